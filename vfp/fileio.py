"""Atomic file writes and one-line warnings: outputs appear whole or not at all."""
from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from vfp.errors import VfpError

# errors of a write the user fixes in the folder: disk full, quota, read-only, no permission, too large, I/O
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                          errno.EIO})


class WriteError(VfpError):
    """A file could not be written for a reason in its folder (disk full, read-only, permissions)."""

    def __init__(self, path: Path, err: OSError):
        self.path, self.folder, self.errno = Path(path), Path(path).parent, err.errno
        self.reason = err.strerror or str(err)
        super().__init__(f"cannot write {self.path}: {self.reason} (in {self.folder}); free space there or make "
                         "the folder writable, then run again")


def write_error(path: Path, err: BaseException) -> BaseException:
    """``err`` as a :class:`WriteError` when it is an OSError of a write the user can fix, else ``err``."""
    if isinstance(err, OSError) and not isinstance(err, WriteError) and err.errno in WRITE_ERRNOS:
        return WriteError(path, err)
    return err


def os_error_line(err: OSError) -> str:
    """One line for an OSError that reached a stage's entry point (a write the user can fix, or other)."""
    if err.errno in WRITE_ERRNOS:
        return str(WriteError(Path(err.filename or "."), err))
    return f"{err.filename or 'a file'}: {err.strerror or err}"


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly process-wide)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it into place."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it and rename it into place."""
    with atomic_open(path) as handle:
        handle.write(data)


@contextmanager
def atomic_open(path: Path, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary handle on a temp file beside ``path``; on success it is fsynced and renamed to ``path``.

    For writers that want a file object (``torch.save``, imageio, ...). The file gets the mode a plain
    ``open(path, "w")`` gives (0666 less the umask: 0644 under umask 022). On an exception the
    temp file is removed and ``path`` is left as it was. ``durable=False`` skips the fsync (still
    atomic for readers) for derived data that is checked and rebuilt when bad, like the frame cache.
    """
    path = Path(path)
    try:
        handle, tmp = _open_temp(path)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        with handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        mapped = write_error(path, err)
        if mapped is err:
            raise
        raise mapped from None


def _open_temp(path: Path) -> tuple[BinaryIO, str]:
    """``(binary handle, name)`` of a new temp file beside ``path``, with the mode ``open()`` would give
    (mkstemp makes 0600). The write helper every atomic write goes through (tests inject faults here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~current_umask())
    return os.fdopen(fd, "wb"), tmp


def atomic_save(path: Path, obj: object) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (checkpoints, model files)."""
    import torch

    with atomic_open(path) as handle:
        torch.save(obj, handle)
    return Path(path)


def atomic_copy(src: Path, dest: Path) -> Path:
    """Copy ``src`` to ``dest`` atomically (readers of ``dest`` never see a half copy)."""
    with open(src, "rb") as source, atomic_open(dest) as handle:
        shutil.copyfileobj(source, handle)
    return Path(dest)


def zip_damage(path: Path) -> str | None:
    """A short reason when a record of the zip file ``path`` (``torch.save``'s format) fails its CRC-32 or
    cannot be read, else None (also for a file that is no zip at all: its loader reports that).
    ``torch.load`` does not check the CRCs: damaged tensor bytes would load as other numbers."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return None
    try:
        with archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as err:
        return f"unreadable record ({str(err).splitlines()[0][:80] if str(err) else type(err).__name__})"
    return None if bad is None else f"record {bad} fails its checksum"


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write + delete a probe file; VfpError naming the folder if that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_probe_{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise VfpError(f"output folder {folder} is not writable: {err.strerror or err}") from None


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; on success it replaces ``path`` whole. A failed write (disk full,
    read-only) is a one-line :class:`WriteError`; the temp folder is removed and ``path`` kept."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        yield tmp
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        mapped = write_error(path / "...", err)  # a write inside the new folder: name the folder
        if mapped is err:
            raise
        raise mapped from None
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
