"""Safe archive extraction (RAR via unar or bsdtar, ZIP via zipfile).

Every archive is listed first; entries with absolute paths, ``..`` components,
symlinks, hard links or device files are refused before anything is written.
Extraction goes to a temporary folder next to the destination, the extracted
tree is checked again (no symlinks, nothing resolving outside), and only then is
the folder renamed into place, so a killed extraction never leaves a half
result at the final path.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vfp.errors import VfpError
from vfp.fileio import current_umask

log = logging.getLogger(__name__)

INSTALL_HINT = "install one: apt-get install unar (or apt-get install libarchive-tools for bsdtar)"


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "other"
    target: str | None = None


def available_extractor() -> str | None:
    """'unar' (needs lsar too) or 'bsdtar', whichever is installed; unar preferred.

    unar is preferred because it also reads RAR3 *solid* archives, which bsdtar
    (libarchive 3.6) refuses ("RAR solid archive support unavailable"), and lsar
    gives a JSON listing with explicit link flags.
    """
    if shutil.which("unar") and shutil.which("lsar"):
        return "unar"
    if shutil.which("bsdtar"):
        return "bsdtar"
    return None


def _run(cmd: list[str], what: str, archive: Path) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape")
    except FileNotFoundError:
        raise VfpError(f"{cmd[0]} is not installed; {INSTALL_HINT}") from None
    if res.returncode != 0:
        err = " ".join((res.stderr or res.stdout).split())[-300:]
        extra = ""
        if cmd[0] == "bsdtar" and "solid" in err.lower():
            extra = "; bsdtar cannot read solid RAR archives: apt-get install unar"
        raise VfpError(f"{what} {archive} with {cmd[0]} failed (exit {res.returncode}): {err}{extra}")
    return res.stdout


def _list_unar(src: Path, archive: Path) -> list[Entry]:
    out = _run(["lsar", "-j", "-nr", str(src)], "listing", archive)
    try:
        data = json.loads(out)
    except json.JSONDecodeError as exc:
        raise VfpError(f"could not read the listing of {archive} from lsar: {exc}") from None
    if data.get("lsarError"):
        raise VfpError(f"lsar could not list {archive} (error {data['lsarError']}); the archive may be "
                       "corrupt or incomplete")
    entries = []
    for e in data.get("lsarContents", []):
        name = e.get("XADFileName", "")
        if e.get("XADIsLink"):
            kind = "symlink"
        elif e.get("XADIsHardLink"):
            kind = "hardlink"
        elif e.get("XADIsDirectory"):
            kind = "dir"
        elif e.get("XADIsCharacterDevice") or e.get("XADIsBlockDevice") or e.get("XADIsFIFO"):
            kind = "other"
        else:
            mode = e.get("XADPosixPermissions")
            kind = "file"
            if isinstance(mode, int) and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "symlink" if stat.S_ISLNK(mode) else "other"
        entries.append(Entry(name, kind, e.get("XADLinkDestination")))
    return entries


def _list_bsdtar(src: Path, archive: Path) -> list[Entry]:
    names = _run(["bsdtar", "-tf", str(src)], "listing", archive).splitlines()
    verbose = _run(["bsdtar", "-tvf", str(src)], "listing", archive).splitlines()
    if len(names) != len(verbose):
        raise VfpError(f"could not list {archive} reliably with bsdtar (names with line breaks?)")
    kinds = {"-": "file", "d": "dir", "l": "symlink", "h": "hardlink"}
    entries = []
    for name, line in zip(names, verbose):
        kind = kinds.get(line[:1], "other")
        if " link to " in line and kind == "file":
            kind = "hardlink"
        entries.append(Entry(name, kind))
    return entries


def list_archive(archive: Path, tool: str | None = None) -> list[Entry]:
    """Entries of a RAR (or anything unar/bsdtar reads) or a ZIP archive."""
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            out = []
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if info.is_dir():
                    kind = "dir"
                elif stat.S_ISLNK(mode):
                    kind = "symlink"
                elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                    kind = "other"
                else:
                    kind = "file"
                out.append(Entry(info.filename, kind))
            return out
    tool = tool or available_extractor()
    if tool is None:
        raise VfpError(f"cannot extract {archive}: neither unar nor bsdtar is installed; {INSTALL_HINT}")
    with _private_link(archive) as src:
        return _list_unar(src, archive) if tool == "unar" else _list_bsdtar(src, archive)


def check_entries(entries: list[Entry], archive: Path) -> None:
    """Refuse unsafe entries: absolute paths, '..' components, links, devices."""
    for e in entries:
        name = e.name.replace("\\", "/")
        p = PurePosixPath(name)
        if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise VfpError(f"refusing to extract {archive}: entry {e.name!r} has an absolute path")
        if ".." in p.parts:
            raise VfpError(f"refusing to extract {archive}: entry {e.name!r} contains '..'")
        if e.kind == "symlink":
            raise VfpError(f"refusing to extract {archive}: entry {e.name!r} is a symlink"
                           + (f" to {e.target!r}" if e.target else "")
                           + " (archives with links are not accepted)")
        if e.kind in ("hardlink", "other"):
            raise VfpError(f"refusing to extract {archive}: entry {e.name!r} is a {e.kind}, not a file")


def check_tree(root: Path) -> None:
    """After extraction: no symlinks, and every path resolves inside ``root``."""
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                raise VfpError(f"extraction produced a symlink {p!r}; refusing the archive")
            rp = os.path.realpath(p)
            if os.path.commonpath([real_root, rp]) != real_root:
                raise VfpError(f"extraction produced {p!r} outside {root}; refusing the archive")


class _private_link:
    """A symlink to the archive named 'archive<ext>' in a private temp dir.

    unar guesses multi-volume sets from sibling file names (``rar5-x.rar`` next to
    ``rar3-x.rar`` is read as two volumes); a neutral name in an empty folder
    avoids that.
    """

    def __init__(self, archive: Path):
        self.archive = Path(archive).resolve()

    def __enter__(self) -> Path:
        self.dir = tempfile.mkdtemp(prefix="vfp-archive-")
        link = Path(self.dir) / ("archive" + self.archive.suffix.lower())
        os.symlink(self.archive, link)
        return link

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def _extract_zip(archive: Path, out: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = out.joinpath(*PurePosixPath(info.filename.replace("\\", "/")).parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def extract_archive(archive: Path, dest: Path, *, tool: str | None = None) -> Path:
    """Safely extract ``archive`` so its entries appear under ``dest`` (which must not exist).

    ZIP files use Python's zipfile; other archives (RAR) use unar, else bsdtar.
    Raises VfpError when no extractor is installed, when the archive holds unsafe
    entries (nothing is written then), or when extraction fails.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise VfpError(f"cannot extract {archive}: {dest} already exists")
    is_zip = zipfile.is_zipfile(archive)
    if not is_zip:
        tool = tool or available_extractor()
        if tool is None:
            raise VfpError(f"cannot extract {archive}: neither unar nor bsdtar is installed; {INSTALL_HINT}")
    entries = list_archive(archive, tool)
    check_entries(entries, archive)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        if is_zip:
            _extract_zip(archive, tmp)
        else:
            with _private_link(archive) as src:
                log.info("extracting %s with %s", archive, tool)
                if tool == "unar":
                    _run(["unar", "-q", "-nr", "-D", "-f", "-o", str(tmp), str(src)], "extracting", archive)
                else:
                    # bsdtar's defaults already refuse '..', absolute paths and writing through symlinks.
                    _run(["bsdtar", "-x", "--no-same-owner", "-f", str(src), "-C", str(tmp)],
                         "extracting", archive)
        check_tree(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
