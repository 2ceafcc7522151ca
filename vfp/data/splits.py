"""Train / val / test lists from an official split, with validation groups carved from train.

Output (``data/split/``): ``train.txt``, ``val.txt``, ``test.txt`` with one ``<video path>\\t<frames>``
line per video (paths as the data root is named in params, frame counts that really decode, from the
motion filter), and ``summary.json``. Videos of dropped classes, unreadable videos and list entries
with no file are left out and counted. Validation takes whole groups, never single clips.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vfp.data.layout import group_of, read_split_list
from vfp.data.video import VideoEntry
from vfp.errors import VfpError
from vfp.fileio import atomic_dir, warn

SPLIT_NAMES = ("train", "val", "test")


def carve_val(train: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split ``train`` into (train, val) by group, per class, deterministically from ``seed``."""
    if fraction <= 0:
        return list(train), []
    by_class: dict[str, list[str]] = {}
    for rel in train:
        group = group_of(rel)
        by_class.setdefault(group.split("/", 1)[0], [])
        if group not in by_class[group.split("/", 1)[0]]:
            by_class[group.split("/", 1)[0]].append(group)
    val_groups: set[str] = set()
    for cls, groups in sorted(by_class.items()):
        if len(groups) < 2:
            continue
        rng = np.random.default_rng([seed, *cls.encode()])
        n_val = max(1, int(round(fraction * len(groups))))
        val_groups.update(np.array(sorted(groups))[rng.permutation(len(groups))[:n_val]].tolist())
    keep = [r for r in train if group_of(r) not in val_groups]
    val = [r for r in train if group_of(r) in val_groups]
    return keep, val


def _resolver(names: list[str]):
    """Case-insensitive lookup of list entries (UCF-101 lists say HandStandPushups for HandstandPushups)."""
    exact = set(names)
    lower = {n.lower(): n for n in names}

    def resolve(rel: str) -> str | None:
        return rel if rel in exact else lower.get(rel.lower())

    return resolve


def make_splits(root: Path, motion_path: Path, out_dir: Path, *, official: int, val_fraction: float,
                seed: int) -> dict:
    """Write the train/val/test lists of split ``official`` for the classes the motion filter kept."""
    try:
        motion = json.loads(Path(motion_path).read_text())
    except FileNotFoundError:
        raise VfpError(f"{motion_path}: not found; run the motion filter first (dvc repro motion_filter)") from None
    except json.JSONDecodeError as err:
        raise VfpError(f"{motion_path}: not valid JSON ({err}); re-run the motion filter") from None
    kept = set(motion["kept"])
    videos = motion["videos"]
    resolve = _resolver(list(videos))
    lists = {}
    missing = 0
    for name, filename in (("train", f"trainlist{official:02d}.txt"), ("test", f"testlist{official:02d}.txt")):
        path = root / "splits" / filename
        if not path.is_file():
            raise VfpError(f"{path}: split list not found; re-run the download stage (dvc repro download)")
        entries = []
        for rel in read_split_list(path):
            real = resolve(rel)
            if real is None:
                missing += 1
                continue
            if real.split("/", 1)[0] in kept:
                entries.append(real)
        lists[name] = entries
    if missing:
        warn(f"{missing} split-list entries have no readable video (missing or skipped by the motion filter)")
    lists["train"], lists["val"] = carve_val(lists["train"], val_fraction, seed)
    overlap = {group_of(r) for r in lists["train"]} & {group_of(r) for r in lists["test"]}
    if overlap:
        raise VfpError(f"{root}/splits: groups in both train and test lists: {', '.join(sorted(overlap)[:5])}")
    for name in ("train", "test"):
        if not lists[name]:
            raise VfpError(f"split {official}: no usable {name} videos after the motion filter; check the data")
    summary = {
        "official": official, "classes": sorted(kept),
        "counts": {name: len(lists[name]) for name in SPLIT_NAMES},
        "groups": {name: len({group_of(r) for r in lists[name]}) for name in SPLIT_NAMES},
        "missing_or_skipped": missing,
    }
    with atomic_dir(out_dir) as tmp:
        for name in SPLIT_NAMES:
            lines = [f"{(root / rel).as_posix()}\t{videos[rel]['n_frames']}\n" for rel in lists[name]]
            (tmp / f"{name}.txt").write_text("".join(lines), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def read_split(split_dir: Path, name: str) -> list[VideoEntry]:
    """The videos of one split list written by :func:`make_splits`."""
    path = Path(split_dir) / f"{name}.txt"
    if not path.is_file():
        raise VfpError(f"{path}: not found; run the split stage first (dvc repro split)")
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            video, n_frames = line.rsplit("\t", 1)
            entries.append(VideoEntry(Path(video), int(n_frames)))
    return entries
