"""Reading video files: verified frame counts, one-line errors, two decoder backends.

``data.decoder`` picks the backend: ``decord`` (:mod:`vfp.data.decode_decord`), ``pyav``
(:mod:`vfp.data.decode_pyav`), or ``auto`` = decord where it can be imported, else PyAV (decord has
wheels for x86-64 Linux, Windows and Intel macOS only); with ``auto``, a file decord cannot read is
read by PyAV (the same file always by the same backend, so counts and pixels stay consistent). The choice
is an argument of every function that decodes (no process-wide setting): the stages pass
``cfg.data.decoder``, ``vfp predict`` its ``--decoder``. Both give the same frame count and indices
and pixels within a few grey levels (bilinear scaling in both; see tests/data/test_decoders.py).
:func:`probe` counts the frames that really decode (containers can claim more) and callers clamp
to it; readers are opened per call, so DataLoader workers never share one.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vfp.data import decode_decord, decode_pyav
from vfp.data.videofile import VideoReadError, check_file, short_reason
from vfp.fileio import warn

__all__ = ["DECODERS", "VIDEO_EXTENSIONS", "VideoEntry", "VideoReadError", "check_file", "decoder_choice",
           "decoder_name", "list_videos", "name_problem", "probe", "read_all", "read_frames", "short_reason"]

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm")
DECODERS = ("auto", "decord", "pyav")


@dataclass(frozen=True)
class VideoEntry:
    """A video file and the number of frames that really decode."""

    path: Path
    n_frames: int

    @property
    def stem(self) -> str:
        return self.path.stem


def decoder_choice(name: str) -> str:
    """``name`` checked (auto | decord | pyav; ``auto`` not resolved: keeps the fallback)."""
    if name not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {name!r}")
    return name


def decoder_name(name: str) -> str:
    """The backend that reads first for the choice ``name``: ``auto`` resolved."""
    name = decoder_choice(name)
    if name == "auto":
        return "decord" if decord_importable() else "pyav"
    return name


@functools.lru_cache(maxsize=1)
def decord_importable() -> bool:
    """True when ``import decord`` works here (no decord wheel on aarch64 Linux or Apple silicon).

    Asked once per process (``decord_importable.cache_clear()`` asks again)."""
    try:
        import decord  # noqa: F401
    except Exception:  # ImportError, or OSError from a wheel whose native library cannot load
        return False
    return True


def _backends(name: str) -> tuple:
    """The backends to try in order: ``auto`` with decord installed tries PyAV after it."""
    first = decode_decord if decoder_name(name) == "decord" else decode_pyav
    return (first, decode_pyav) if first is decode_decord and decoder_choice(name) == "auto" else (first,)


def _first_that_reads(name: str, call):
    """``call(backend)`` with the first backend that reads the file; the first backend's error otherwise."""
    error = None
    for backend in _backends(name):
        try:
            return call(backend)
        except VideoReadError as err:
            error = error or err
    raise error


def probe(path: Path, decoder: str = "auto") -> int:
    """Number of frames that really decode (clamps the container's count). Raises VideoReadError."""
    return _first_that_reads(decoder, lambda backend: backend.count(Path(path)))


def frame_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of a video's first video stream, from its header. Raises VideoReadError."""
    import av  # PyAV: a dependency; imported here so that decord-only readers never load it

    check_file(Path(path))
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            return int(stream.height), int(stream.width)
    except Exception as err:  # noqa: BLE001 - any container error is one short reason
        raise VideoReadError(f"cannot read the frame size ({short_reason(err)})") from None


def read_frames(path: Path, indices: list[int] | np.ndarray, size: tuple[int, int] | None,
                decoder: str = "auto") -> np.ndarray:
    """Decode ``indices`` (sorted, all < the probed count) at ``size`` (H, W; None: the video's own size):
    uint8 [T, H, W, 3]."""
    indices, size = list(map(int, indices)), (tuple(size) if size else None)
    return _first_that_reads(decoder, lambda backend: backend.read(Path(path), indices, size))


def read_all(path: Path, size: tuple[int, int] | None, n_frames: int | None = None,
             decoder: str = "auto") -> np.ndarray:
    """Decode every frame (or the first ``n_frames``) at ``size`` (None: native): uint8 [N, H, W, 3]."""
    if n_frames is None:
        n_frames = probe(path, decoder)
    return read_frames(path, np.arange(n_frames), size, decoder)


def name_problem(rel: str) -> str | None:
    """Why a video's ``<Class>/<name>`` cannot go into vfp's line-based lists (split lists, reports), or
    None: a line break, tab or other control character, or bytes that are not UTF-8."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not UTF-8 (the split lists are UTF-8 text)"
    bad = sorted({repr(c) for c in rel if ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        return f"its name holds {', '.join(bad)} (the split lists hold one name per line)"
    if any(part != part.strip() for part in rel.split("/")):
        return "its name starts or ends with a space (the split lists trim lines)"
    return None


def usable_video(path: Path, rel: str, skipped: list[dict] | None = None) -> bool:
    """True for a video file whose list name ``rel`` (``<Class>/<name>``) the lists can hold; a dangling
    symbolic link or a name they cannot hold is warned about (one line) and appended to ``skipped``."""
    shown = ascii(os.fspath(path))[1:-1] if name_problem(os.fspath(path)) else os.fspath(path)
    if path.is_symlink() and not path.exists():
        reason = f"dangling symbolic link (to {ascii(os.readlink(path))[1:-1]})"
    elif not path.is_file():
        return False
    else:
        reason = name_problem(rel)
        if reason is None:
            return True
    warn(f"skipping {shown}: {reason}; fix or rename it")
    if skipped is not None:
        skipped.append({"file": shown, "reason": reason})
    return False


def list_videos(root: Path, skipped: list[dict] | None = None) -> list[Path]:
    """Video files in a ``<Class>/<video>`` tree, sorted; the ``splits`` folder is ignored. Dangling links
    and names the lists cannot hold are skipped with one warning line each (and listed in ``skipped``)."""
    root = Path(root)
    candidates = sorted(p for p in root.glob("*/*")
                        if p.suffix.lower() in VIDEO_EXTENSIONS and p.parent.name != "splits")
    return [p for p in candidates if usable_video(p, p.relative_to(root).as_posix(), skipped)]
