"""UCF-101 from the official site: download, safe extraction, layout normalisation, checks.

Final layout under ``root``::

    <root>/<Class>/v_<Class>_gGG_cCC.avi
    <root>/splits/{classInd.txt, trainlist0{1,2,3}.txt, testlist0{1,2,3}.txt}

The helpers ``read_split_list``, ``read_class_index``, ``resolve_case``,
``normalise_splits`` and ``check_layout`` work on any UCF-layout folder (the
``folder`` source uses them too) and hold no UCF-101-specific counts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from vfp.data.archive import extract_archive
from vfp.data.download import download_file
from vfp.data.layout import (ROOT_MARKER, check_root, list_lines, made_by_vfp, read_split_labels,  # noqa: F401
                             read_split_list)
from vfp.errors import VfpError
from vfp.fileio import current_umask

log = logging.getLogger(__name__)

FOLDER_HINT = "copy UCF-101 elsewhere and set data.source: folder with data.folder: <path>"
SPLIT_FILES = ("classInd.txt",
               "trainlist01.txt", "trainlist02.txt", "trainlist03.txt",
               "testlist01.txt", "testlist02.txt", "testlist03.txt")
SPLITS_DIR = "splits"
VIDEO_SUFFIXES = (".avi",)
MARKER = ".vfp-ucf101.json"


# --------------------------------------------------------------------------- generic helpers

def read_class_index(path: Path) -> dict[str, int]:
    """``classInd.txt`` as {class name: label}; labels are 1-based as in the file (``1 ApplyEyeMakeup``)."""
    out: dict[str, int] = {}
    for ln in list_lines(path):
        parts = ln.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise VfpError(f"bad line in {path}: {ln!r} (expected '<number> <ClassName>')")
        out[parts[1].strip()] = int(parts[0])
    return out


def resolve_case(root: Path, relpath: str, cache: dict | None = None) -> Path | None:
    """The existing path under ``root`` matching ``relpath`` case-insensitively, or None.

    An exact match wins; otherwise the entry whose name matches ignoring case
    (sorted first if several do).  Pass the same ``cache`` dict across calls to
    reuse directory listings.
    """
    cache = {} if cache is None else cache
    cur = Path(root)
    for part in relpath.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        key = str(cur)
        listing = cache.get(key)
        if listing is None:
            try:
                names = sorted(os.listdir(cur))
            except (FileNotFoundError, NotADirectoryError):
                return None
            listing = {"exact": set(names), "lower": {}}
            for n in names:
                listing["lower"].setdefault(n.lower(), n)
            cache[key] = listing
        if part in listing["exact"]:
            cur = cur / part
        elif part.lower() in listing["lower"]:
            cur = cur / listing["lower"][part.lower()]
        else:
            return None
    return cur


def class_dirs(root: Path) -> list[Path]:
    """Class folders of a UCF-layout root (non-hidden folders except ``splits``)."""
    return sorted(p for p in Path(root).iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != SPLITS_DIR)


def list_videos(root: Path) -> list[Path]:
    return sorted(v for c in class_dirs(root) for v in c.rglob("*")
                  if v.is_file() and v.suffix.lower() in VIDEO_SUFFIXES)


def find_split_files(folder: Path) -> dict[str, Path]:
    """The split list files anywhere under ``folder``, found case-insensitively."""
    wanted = {n.lower(): n for n in SPLIT_FILES}
    found: dict[str, Path] = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.name.lower() in wanted and wanted[p.name.lower()] not in found:
            found[wanted[p.name.lower()]] = p
    return found


def normalise_splits(src_dir: Path, root: Path, out_dir: Path) -> dict[str, int]:
    """Rewrite the split lists found under ``src_dir`` into ``out_dir`` with real names and LF.

    Each list entry is resolved case-insensitively against the videos under
    ``root`` and written with the real relative path (labels kept).  Entries that
    do not resolve are written unchanged and counted.  ``classInd.txt`` class names
    are matched to the real class folders.  Returns {list file: unresolved count}.
    """
    found = find_split_files(src_dir)
    missing = [n for n in SPLIT_FILES if n not in found]
    if missing:
        raise VfpError(f"split lists missing in {src_dir}: {', '.join(missing)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    unresolved: dict[str, int] = {}
    for name, path in found.items():
        lines, bad = [], 0
        if name == "classInd.txt":
            for cls, label in sorted(read_class_index(path).items(), key=lambda kv: kv[1]):
                real = resolve_case(root, cls, cache)
                if real is None or not real.is_dir():
                    bad += 1
                else:
                    cls = real.name
                lines.append(f"{label} {cls}")
        else:
            for rel, label in read_split_labels(path):
                real = resolve_case(root, rel, cache)
                if real is None or not real.is_file():
                    bad += 1
                else:
                    rel = real.relative_to(root).as_posix()
                lines.append(rel if label is None else f"{rel} {label}")
        (out_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
        unresolved[name] = bad
    return unresolved


def check_layout(root: Path, *, expected_classes: int | None = None,
                 expected_videos: int | None = None) -> dict:
    """Count classes and videos of a UCF-layout folder and check its split lists.

    Returns {"classes", "videos", "unresolved": {list: count}, "mismatches": [one-line str]}.
    Mismatches are logged as a warning; zero videos raises VfpError.
    """
    root = Path(root)
    classes = class_dirs(root)
    videos = list_videos(root)
    if not videos:
        raise VfpError(f"no videos (*.avi) found in class folders under {root}")
    mismatches: list[str] = []
    if expected_classes is not None and len(classes) != expected_classes:
        mismatches.append(f"{len(classes)} classes, expected {expected_classes}")
    if expected_videos is not None and len(videos) != expected_videos:
        mismatches.append(f"{len(videos)} videos, expected {expected_videos}")
    unresolved: dict[str, int] = {}
    splits = root / SPLITS_DIR
    cache: dict = {}
    for name in SPLIT_FILES:
        path = splits / name
        if not path.is_file():
            mismatches.append(f"split list {name} missing")
            continue
        if name == "classInd.txt":
            names = list(read_class_index(path))
            bad = sum(1 for c in names if not (root / c).is_dir())
            if expected_classes is not None and len(names) != expected_classes:
                mismatches.append(f"{name} lists {len(names)} classes, expected {expected_classes}")
        else:
            bad = sum(1 for rel in read_split_list(path) if not (root / rel).is_file())
        unresolved[name] = bad
        if bad:
            mismatches.append(f"{name}: {bad} entries reference no existing file")
    summary = {"classes": len(classes), "videos": len(videos),
               "unresolved": unresolved, "mismatches": mismatches}
    if mismatches:
        msg = f"{root}: " + "; ".join(mismatches)
        log.warning(msg)
        warnings.warn(msg, stacklevel=2)
    return summary


def _content_root(folder: Path) -> Path:
    """Descend through single-folder wrappers (``UCF-101/``, ``UCF101/``) to the class folders."""
    cur = Path(folder)
    while True:
        entries = [p for p in cur.iterdir() if not p.name.startswith(".")]
        dirs = [p for p in entries if p.is_dir()]
        if len(dirs) == 1 and len(entries) == 1:
            cur = dirs[0]
        else:
            return cur


# --------------------------------------------------------------------------- UCF-101 source

def is_prepared(root: Path) -> dict | None:
    """The stored summary if ``root`` was completely prepared before, else None."""
    marker = Path(root) / MARKER
    if not marker.is_file() or not (Path(root) / SPLITS_DIR).is_dir():
        return None
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def prepare_ucf101(
    root: Path,
    download_dir: Path,
    *,
    rar_url: str,
    rar_sha256: str | None,
    rar_size: int | None,
    splits_url: str,
    splits_sha256: str | None,
    splits_size: int | None,
    insecure_tls: bool = False,
    expected_classes: int = 101,
    expected_videos: int = 13320,
    retries: int = 5,
    progress: bool = True,
) -> dict:
    """Download, extract and normalise UCF-101 into ``root``; return the summary.

    Idempotent: when ``root`` is already complete nothing is downloaded or
    extracted.  The result appears at ``root`` by one rename at the end, so an
    interrupted run never leaves a half dataset there.  Summary keys: classes,
    videos, unresolved, mismatches.
    """
    root, download_dir = Path(root), Path(download_dir)
    done = is_prepared(root)
    if done is not None:
        log.info("UCF-101 already prepared in %s", root)
        return done
    check_root(root)  # missing, empty or made by vfp (another source, an interrupted UCF-101 run)

    rar = download_file(rar_url, download_dir / _basename(rar_url, "UCF101.rar"),
                        sha256=rar_sha256, size=rar_size, insecure_tls=insecure_tls,
                        retries=retries, progress=progress, hint=FOLDER_HINT)
    zp = download_file(splits_url, download_dir / _basename(splits_url, "UCF101TrainTestSplits.zip"),
                       sha256=splits_sha256, size=splits_size, insecure_tls=insecure_tls,
                       retries=retries, progress=progress, hint=FOLDER_HINT)

    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(f".{root.name}.staging-*"):
        log.info("removing leftovers of an interrupted run: %s", stale)
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.staging-", dir=root.parent))
    try:
        extract_archive(rar, staging / "rar")
        extract_archive(zp, staging / "zip")
        out = staging / "out"
        os.rename(_content_root(staging / "rar"), out)
        normalise_splits(staging / "zip", out, out / SPLITS_DIR)
        summary = check_layout(out, expected_classes=expected_classes, expected_videos=expected_videos)
        (out / MARKER).write_text(json.dumps(summary, indent=1) + "\n")
        (out / ROOT_MARKER).write_text("made by vfp's download stage (data.root)\n")
        os.chmod(out, 0o777 & ~current_umask())
        if root.exists():
            check_root(root)  # still empty or vfp's after the long download
            shutil.rmtree(root) if made_by_vfp(root) else root.rmdir()
        os.rename(out, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("UCF-101 ready in %s: %d classes, %d videos", root, summary["classes"], summary["videos"])
    return summary


def _basename(url: str, default: str) -> str:
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or default
