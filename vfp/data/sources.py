"""The download stage: put a UCF-layout dataset at ``data.root`` from the configured source.

- ``sample``: generate the small deterministic dataset (:mod:`vfp.data.sample`);
- ``ucf101``: download, verify and extract the official archives (:mod:`vfp.data.ucf101`);
- ``folder``: mirror a local ``<Class>/<video>`` tree and/or videos placed directly in the folder (each
  such video becomes its own class, ``<stem>/<video>``), hard links where possible, else copies; its
  official split lists are used when present, otherwise lists split deterministically by group are
  written (the split stage cuts classes with fewer than 3 groups in time, see :mod:`vfp.data.splits`).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from vfp.config import Config
from vfp.data.layout import check_root, dataset_dir, group_of, write_split_lists
from vfp.data.sample import generate_sample
from vfp.data.ucf101 import prepare_ucf101
from vfp.data.video import VIDEO_EXTENSIONS, list_videos, usable_video
from vfp.errors import VfpError

LIST_FOLDERS = ("splits", "ucfTrainTestlist")


def prepare_data(cfg: Config) -> dict:
    """Run the configured source; returns a short summary for the stage to print.

    Nothing is touched unless ``data.root`` is missing, empty or made by vfp, and apart from the
    source folder (and the UCF-101 download folder): see :func:`vfp.data.layout.check_root`."""
    root = Path(cfg.data.root)
    keep = {"data.folder": Path(cfg.data.folder)} if cfg.data.source == "folder" else {}
    if cfg.data.source == "ucf101":
        keep = {"ucf101.download_dir": Path(cfg.ucf101.download_dir)}
    check_root(root, keep)
    if cfg.data.source == "sample":
        s = cfg.sample
        return generate_sample(root, seed=s.seed, moving_classes=s.moving_classes, static_classes=s.static_classes,
                               groups=s.groups, clips_per_group=s.clips_per_group, frames=s.frames)
    if cfg.data.source == "folder":
        return mirror_folder(Path(cfg.data.folder), root)
    u = cfg.ucf101
    return prepare_ucf101(root, Path(u.download_dir), rar_url=u.rar_url, rar_sha256=u.rar_sha256 or None,
                          rar_size=u.rar_size or None, splits_url=u.splits_url, splits_sha256=u.splits_sha256 or None,
                          splits_size=u.splits_size or None, insecure_tls=u.insecure_tls)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def mirror_folder(folder: Path, root: Path) -> dict:
    """Mirror ``folder`` into ``root`` (atomically) with split lists in ``root/splits``."""
    check_root(root, {"data.folder": folder})
    if not folder.is_dir():
        raise VfpError(f"data.folder {folder}: not a folder; point it at a <Class>/<video> tree")
    skipped: list[dict] = []
    sources = folder_videos(folder, skipped)
    if not sources:
        raise VfpError(f"data.folder {folder}: no usable .avi/.mp4/.mkv/.webm files ({len(skipped)} skipped), "
                       "neither directly in it nor in <Class>/<video> sub-folders")
    by_class: dict[str, list[str]] = {}
    for rel in sources:
        by_class.setdefault(rel.split("/", 1)[0], []).append(rel)
    classes = sorted(by_class)
    with dataset_dir(root) as tmp:
        for rel, src in sources.items():
            _link_or_copy(src, tmp / rel)
        official = _official_lists(folder)
        if official is not None:
            (tmp / "splits").mkdir(exist_ok=True)
            for src in official.iterdir():
                if src.suffix == ".txt":  # normalise CRLF line endings
                    (tmp / "splits" / src.name).write_text(src.read_text(errors="replace").replace("\r\n", "\n"))
            if not (tmp / "splits" / "classInd.txt").is_file():
                (tmp / "splits" / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
        else:
            write_group_split_lists(tmp / "splits", classes, by_class)
    return {"classes": len(classes), "videos": len(sources), "official_lists": official is not None,
            "skipped": len(skipped)}


def folder_videos(folder: Path, skipped: list[dict] | None = None) -> dict[str, Path]:
    """``{<Class>/<video> in the mirror: source file}``: sub-folder videos keep their class, videos
    directly in ``folder`` become class ``<stem>``. A name clash is a one-line error; dangling links and
    names the lists cannot hold are skipped with one line each (listed in ``skipped``)."""
    out = {path.relative_to(folder).as_posix(): path for path in list_videos(folder, skipped)}
    flat = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    for path in (p for p in flat if usable_video(p, f"{p.stem}/{p.name}", skipped)):
        rel = f"{path.stem}/{path.name}"
        if path.stem in {r.split("/", 1)[0] for r in out}:
            raise VfpError(f"data.folder {folder}: {path.name} would become class {path.stem!r}, which is also a "
                           "sub-folder (or another video's stem); rename one of them")
        out[rel] = path
    return dict(sorted(out.items()))


def _official_lists(folder: Path) -> Path | None:
    for name in LIST_FOLDERS:
        candidate = folder / name
        if (candidate / "trainlist01.txt").is_file() and (candidate / "testlist01.txt").is_file():
            return candidate
    return None


def write_group_split_lists(splits_dir: Path, classes: list[str], by_class: dict[str, list[str]]) -> None:
    """Lists for 3 splits by group: split k tests on every 4th group of each class (offset k-1)."""
    write_split_lists(splits_dir, classes, by_class, test_groups={})
    label = {c: i + 1 for i, c in enumerate(classes)}
    for k in (1, 2, 3):
        train, test = [], []
        for cls in classes:
            groups = sorted({group_of(r) for r in by_class[cls]})
            test_groups = {g for i, g in enumerate(groups) if i % 4 == k - 1}
            for rel in sorted(by_class[cls]):
                if group_of(rel) in test_groups:
                    test.append(f"{rel}\n")
                else:
                    train.append(f"{rel} {label[cls]}\n")
        (splits_dir / f"trainlist{k:02d}.txt").write_text("".join(train), encoding="utf-8")
        (splits_dir / f"testlist{k:02d}.txt").write_text("".join(test), encoding="utf-8")

