"""Train / val / test lists: by group (UCF-101 style) or by time (a few long videos).

Output (``data/split/``): ``train.txt``, ``val.txt``, ``test.txt`` and ``summary.json``. A line is
``<video path>\\t<frames>`` (the whole video; paths as the data root is named in params, frame counts
that really decode, from the motion filter) or ``<video path>\\t<frames>\\t<start>\\t<stop>`` (a
temporal segment: frames ``start .. stop-1`` of that video). Videos of dropped classes, unreadable
videos and list entries with no file are left out and counted.

Modes (``split.mode``):
- ``group``: the official split list, validation carved from train by whole groups, never by clip;
- ``temporal``: every video cut in time into train | gap | val | gap | test segments (``fractions``
  of the frames left after the gaps; a gap is at least one clip span, so no frame and no clip is
  shared between splits); a video too short for a val segment gives train | gap | test, one too
  short for that goes to train only (counted in the summary);
- ``auto``: ``temporal`` for classes with fewer than 3 groups (e.g. one long video per class, or a
  flat folder of videos), ``group`` for the others.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from vfp.data.clips import VideoSegment
from vfp.data.layout import group_of, read_split_list
from vfp.data.video import VideoEntry
from vfp.errors import VfpError
from vfp.fileio import atomic_dir, warn

SPLIT_NAMES = ("train", "val", "test")
MIN_GROUPS = 3  # auto: classes with fewer groups are split in time


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


def check_split_params(mode: str, fractions: Sequence[float], gap: int) -> None:
    """ConfigError-style one-liners for the split section (before any work)."""
    if mode not in ("auto", "group", "temporal"):
        raise VfpError(f"params.yaml: split.mode must be auto, group or temporal, got {mode!r}")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or fractions[0] <= 0 or fractions[2] <= 0:
        raise VfpError(f"params.yaml: split.fractions must be 3 numbers [train, val, test] >= 0 with train and "
                       f"test > 0, got {list(fractions)}")
    if gap < 0:
        raise VfpError(f"params.yaml: split.gap must be >= 0 (0: one clip span), got {gap}")


def temporal_segments(n_frames: int, fractions: Sequence[float], gap: int,
                      min_len: int) -> dict[str, tuple[int, int]]:
    """``{split: (start, stop)}`` for one video of ``n_frames``: train first, then val, then test,
    ``gap`` frames between consecutive segments, each segment at least ``min_len`` frames.

    Val is dropped when the video is too short for three segments; a video too short for train and
    test gives ``{"train": (0, n_frames)}``.
    """
    for names in (("train", "val", "test"), ("train", "test")):
        fr = {n: float(fractions[SPLIT_NAMES.index(n)]) for n in names}
        names = tuple(n for n in names if fr[n] > 0)
        usable = n_frames - gap * (len(names) - 1)
        total = sum(fr.values())
        length = {n: max(min_len, int(round(fr[n] / total * usable))) for n in names if n != "train"}
        length["train"] = usable - sum(length.values())
        if length["train"] >= min_len:
            out, pos = {}, 0
            for n in names:
                out[n] = (pos, pos + length[n])
                pos += length[n] + gap
            return out
    return {"train": (0, n_frames)}


def _load_motion(motion_path: Path) -> dict:
    try:
        return json.loads(Path(motion_path).read_text())
    except FileNotFoundError:
        raise VfpError(f"{motion_path}: not found; run the motion filter first (dvc repro motion_filter)") from None
    except json.JSONDecodeError as err:
        raise VfpError(f"{motion_path}: not valid JSON ({err}); re-run the motion filter") from None


def _resolver(names: list[str]):
    """Case-insensitive lookup of list entries (UCF-101 lists say HandStandPushups for HandstandPushups)."""
    exact = set(names)
    lower = {n.lower(): n for n in names}

    def resolve(rel: str) -> str | None:
        return rel if rel in exact else lower.get(rel.lower())

    return resolve


def temporal_classes(videos: Sequence[str], kept: set[str], mode: str) -> set[str]:
    """Kept classes split in time: all (temporal), none (group), those with < 3 groups (auto)."""
    if mode == "group":
        return set()
    groups: dict[str, set[str]] = {}
    for rel in videos:
        groups.setdefault(rel.split("/", 1)[0], set()).add(group_of(rel))
    return {c for c, g in groups.items() if c in kept and (mode == "temporal" or len(g) < MIN_GROUPS)}


def _group_lists(root: Path, videos: dict, kept: set[str], official: int, val_fraction: float,
                 seed: int) -> tuple[dict[str, list[str]], int]:
    """Official train/test lists of split ``official`` (kept classes only), val carved by group."""
    resolve = _resolver(list(videos))
    lists, missing = {}, 0
    for name, filename in (("train", f"trainlist{official:02d}.txt"), ("test", f"testlist{official:02d}.txt")):
        path = root / "splits" / filename
        if not path.is_file():
            raise VfpError(f"{path}: split list not found; re-run the download stage (dvc repro download)")
        entries = []
        for rel in read_split_list(path):
            real = resolve(rel)
            if real is None:
                missing += 1
            elif real.split("/", 1)[0] in kept:
                entries.append(real)
        lists[name] = entries
    lists["train"], lists["val"] = carve_val(lists["train"], val_fraction, seed)
    overlap = {group_of(r) for r in lists["train"]} & {group_of(r) for r in lists["test"]}
    if overlap:
        raise VfpError(f"{root}/splits: groups in both train and test lists: {', '.join(sorted(overlap)[:5])}")
    return lists, missing


def _temporal_lines(root: Path, videos: dict, classes: set[str], fractions, gap: int,
                    min_len: int) -> tuple[dict[str, list[str]], list[str]]:
    lines: dict[str, list[str]] = {n: [] for n in SPLIT_NAMES}
    train_only = []
    for rel in sorted(r for r in videos if r.split("/", 1)[0] in classes):
        n = videos[rel]["n_frames"]
        segments = temporal_segments(n, fractions, gap, min_len)
        if "test" not in segments:
            train_only.append(rel)
        for name, (start, stop) in segments.items():
            lines[name].append(f"{(root / rel).as_posix()}\t{n}\t{start}\t{stop}\n")
    if train_only:
        warn(f"{len(train_only)} videos too short to cut into train and test segments of {min_len} frames with a "
             f"gap of {gap}; used for training only: {', '.join(train_only[:3])}")
    return lines, train_only


def make_splits(root: Path, motion_path: Path, out_dir: Path, *, official: int, val_fraction: float,
                seed: int, mode: str = "auto", fractions: Sequence[float] = (0.7, 0.1, 0.2),
                gap: int = 15, min_len: int | None = None) -> dict:
    """Write train/val/test lists for the classes the motion filter kept (see the module doc).

    ``gap``: frames between temporal segments; ``min_len``: shortest segment (default ``gap``, i.e.
    one clip span: a segment shorter than one clip would give no clip).
    """
    check_split_params(mode, fractions, gap)
    motion = _load_motion(motion_path)
    kept, videos = set(motion["kept"]), motion["videos"]
    in_time = temporal_classes(list(videos), kept, mode)
    in_groups = kept - in_time
    lines: dict[str, list[str]] = {n: [] for n in SPLIT_NAMES}
    missing = 0
    if in_groups:
        lists, missing = _group_lists(root, videos, in_groups, official, val_fraction, seed)
        for name in SPLIT_NAMES:
            lines[name] = [f"{(root / rel).as_posix()}\t{videos[rel]['n_frames']}\n" for rel in lists[name]]
    if missing:
        warn(f"{missing} split-list entries have no readable video (missing or skipped by the motion filter)")
    temporal, train_only = _temporal_lines(root, videos, in_time, fractions, gap, min_len or max(gap, 1))
    for name in SPLIT_NAMES:
        lines[name] += temporal[name]
    for name in ("train", "test"):
        if not lines[name]:
            raise VfpError(f"split {official} ({mode}): no usable {name} videos after the motion filter; check the "
                           "data (or split.fractions / data.interval for short videos)")
    summary = {
        "official": official, "mode": mode, "classes": sorted(kept),
        "temporal_classes": sorted(in_time), "gap": gap if in_time else 0, "train_only": train_only,
        "counts": {name: len(lines[name]) for name in SPLIT_NAMES},
        "groups": {name: len({_group_of_line(ln, root) for ln in lines[name]}) for name in SPLIT_NAMES},
        "frames": {name: sum(_frames_of_line(ln) for ln in lines[name]) for name in SPLIT_NAMES},
        "missing_or_skipped": missing,
    }
    with atomic_dir(out_dir) as tmp:
        for name in SPLIT_NAMES:
            (tmp / f"{name}.txt").write_text("".join(lines[name]), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _group_of_line(line: str, root: Path) -> str:
    path = Path(line.split("\t", 1)[0])
    return group_of(f"{path.parent.name}/{path.name}")


def _frames_of_line(line: str) -> int:
    fields = line.rstrip("\n").split("\t")
    return int(fields[3]) - int(fields[2]) if len(fields) == 4 else int(fields[1])


def parse_split_line(line: str, source: Path) -> VideoEntry:
    """One split-list line: a whole video (2 fields) or a segment (4 fields)."""
    fields = line.split("\t")
    try:
        if len(fields) == 2:
            return VideoEntry(Path(fields[0]), int(fields[1]))
        if len(fields) == 4:
            return VideoSegment(Path(fields[0]), int(fields[1]), int(fields[2]), int(fields[3]))
    except ValueError:
        pass
    raise VfpError(f"{source}: bad line {line!r} (want <video>\\t<frames>[\\t<start>\\t<stop>]); "
                   "re-run the split stage (dvc repro split)")


def read_split(split_dir: Path, name: str) -> list[VideoEntry]:
    """The videos (or temporal segments) of one split list written by :func:`make_splits`."""
    path = Path(split_dir) / f"{name}.txt"
    if not path.is_file():
        raise VfpError(f"{path}: not found; run the split stage first (dvc repro split)")
    return [parse_split_line(line, path) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
