"""The UCF-101 folder layout shared by every source: names, groups and official split-list files."""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vfp.errors import VfpError
from vfp.fileio import atomic_dir

ROOT_MARKER = ".vfp-data-root"  # written into every data.root vfp creates: only such folders are replaced
_OLD_MARKERS = (".vfp-ucf101.json",)  # the UCF-101 source's own marker (roots made before ROOT_MARKER)
_MARKER_TEXT = ("made by vfp's download stage (data.root): vfp replaces this whole folder when the data "
                "params change; keep your own files elsewhere\n")
UCF_NAME = re.compile(r"^v_(?P<cls>[A-Za-z0-9]+)_g(?P<group>\d+)_c(?P<clip>\d+)$")


def group_of(relpath: str) -> str:
    """Group key of a video: ``Class/gGG`` for UCF names, else the video itself (its own group)."""
    cls, name = relpath.split("/", 1)
    match = UCF_NAME.match(Path(name).stem)
    if match:
        return f"{cls.lower()}/g{int(match['group']):02d}"
    return f"{cls.lower()}/{Path(name).stem}"


def group_number(relpath: str) -> int | None:
    match = UCF_NAME.match(Path(relpath.split("/", 1)[-1]).stem)
    return int(match["group"]) if match else None


def write_split_lists(splits_dir: Path, classes: list[str], videos: dict[str, list[str]],
                      test_groups: dict[int, set[int]]) -> None:
    """Write ``classInd.txt``, ``trainlist0K.txt`` and ``testlist0K.txt`` in UCF-101's format."""
    splits_dir.mkdir(parents=True, exist_ok=True)
    label = {cls: i + 1 for i, cls in enumerate(classes)}
    (splits_dir / "classInd.txt").write_text("".join(f"{label[c]} {c}\n" for c in classes))
    for k, groups in sorted(test_groups.items()):
        train, test = [], []
        for cls in classes:
            for rel in sorted(videos.get(cls, [])):
                if group_number(rel) in groups:
                    test.append(f"{rel}\n")
                else:
                    train.append(f"{rel} {label[cls]}\n")
        (splits_dir / f"trainlist{k:02d}.txt").write_text("".join(train))
        (splits_dir / f"testlist{k:02d}.txt").write_text("".join(test))


def list_lines(path: Path) -> list[str]:
    """Non-blank, stripped lines of a text file (BOM, CRLF/CR/LF)."""
    text = Path(path).read_bytes().decode("utf-8-sig", errors="replace")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]  # splitlines handles CRLF/CR


def read_split_list(path: Path) -> list[str]:
    """Relative video paths of a UCF split list (``Class/v_x.avi [label]`` lines; CRLF/LF, blank
    lines, an optional trailing integer label and backslash separators are handled)."""
    return [rel for rel, _label in read_split_labels(path)]


def read_split_labels(path: Path) -> list[tuple[str, int | None]]:
    """Like ``read_split_list`` but keeps the label (None when the line has none)."""
    out = []
    for ln in list_lines(path):
        parts = ln.rsplit(None, 1)
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out.append((_posix(parts[0]), int(parts[1])))
        else:
            out.append((_posix(ln), None))
    return out


def _posix(rel: str) -> str:
    """``Class\\video`` (a list written on Windows) as ``Class/video``; a ``/`` path keeps its backslashes
    (a file name may hold one)."""
    return (rel if "/" in rel else rel.replace("\\", "/")).strip("/")


def made_by_vfp(root: Path) -> bool:
    """True when ``root`` holds a marker vfp writes into the data roots it creates."""
    return any((Path(root) / name).is_file() for name in (ROOT_MARKER, *_OLD_MARKERS))


def _nested(a: Path, b: Path) -> bool:
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a in b.parents or b in a.parents


def check_root(root: Path, keep: dict[str, Path] | None = None) -> None:
    """VfpError unless vfp may replace ``root`` whole: it is missing, empty or made by vfp (a marker), and
    none of ``keep`` (``{param name: folder}``, e.g. the source folder) is ``root`` or nested in/around it."""
    root = Path(root)
    for key, folder in (keep or {}).items():
        if folder and _nested(root, folder):
            raise VfpError(f"{key} {folder} and data.root {root} overlap (the same folder, or one inside the "
                           "other): the download stage replaces data.root whole; point data.root at a "
                           "separate folder (e.g. data/raw) and keep your videos in data.folder")
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise VfpError(f"data.root {root} is {'a link' if root.is_symlink() else 'a file'}, not a folder vfp "
                       "made; point data.root at a new folder (e.g. data/raw)")
    if root.is_dir() and any(root.iterdir()) and not made_by_vfp(root):
        raise VfpError(f"data.root {root} exists, is not empty and was not made by vfp (no {ROOT_MARKER} in it): "
                       "the download stage replaces data.root whole, so it leaves this folder alone; point "
                       "data.root at a new or empty folder (videos of yours: data.source: folder, "
                       "data.folder: <their folder>), or delete it yourself if an older vfp made it")


@contextmanager
def dataset_dir(root: Path) -> Iterator[Path]:
    """A temp folder that replaces ``root`` whole on success, marked as vfp's (see :func:`check_root`)."""
    check_root(root)
    with atomic_dir(root) as tmp:
        yield tmp
        (tmp / ROOT_MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
