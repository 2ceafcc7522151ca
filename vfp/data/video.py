"""Reading video files with decord: short-lived readers, verified frame counts, one-line errors.

decord traps handled here: ``len(reader)`` trusts the container and can be too high, and reading
past the real end can hang or fail in native code, so :func:`probe` finds the number of frames that
really decode once (at indexing time) and callers clamp to it. ``decord.DECORDError`` is a plain
``Exception`` subclass: catch it and report the file instead of crashing a DataLoader worker.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm")


class VideoReadError(Exception):
    """A video file that cannot be decoded; ``str(err)`` is a short reason."""


@dataclass(frozen=True)
class VideoEntry:
    """A video file and the number of frames that really decode."""

    path: Path
    n_frames: int

    @property
    def stem(self) -> str:
        return self.path.stem


def _reader(path: Path, size: tuple[int, int] | None):
    import decord  # imported lazily: keeps worker start-up cheap and the parent fork-safe

    decord.logging.set_level(decord.logging.QUIET)  # FFmpeg's own stderr noise; we report one line per file
    if not path.is_file():
        raise VideoReadError("file not found")
    if path.stat().st_size == 0:
        raise VideoReadError("empty file (0 bytes)")
    kwargs = {"num_threads": 1}
    if size is not None:
        kwargs.update(height=size[0], width=size[1])
    try:
        return decord.VideoReader(os.fspath(path), **kwargs)
    except Exception as err:  # decord.DECORDError and RuntimeError from bad containers
        raise VideoReadError(f"not a readable video ({_short(err)})") from None


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else type(err).__name__
    first = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", first)  # dmlc log prefix "[12:00:00] src/x.cc:83: "
    return first[:120]


def probe(path: Path) -> int:
    """Number of frames that really decode (clamps the container's count). Raises VideoReadError."""
    reader = _reader(path, size=(32, 32))
    try:
        claimed = len(reader)
        if claimed < 1:
            raise VideoReadError("no frames")
        if _decodes(reader, claimed - 1):
            return claimed
        lo, hi = 0, claimed - 1  # frame lo decodes, frame hi does not
        if not _decodes(reader, 0):
            raise VideoReadError("no frame decodes")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _decodes(reader, mid) else (lo, mid)
        return lo + 1
    finally:
        del reader


def _decodes(reader, index: int) -> bool:
    try:
        reader.seek_accurate(index)
        reader.next()
        return True
    except Exception:
        return False


def read_frames(path: Path, indices: list[int] | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Decode ``indices`` (sorted, all < the probed count) at ``size`` (H, W): uint8 [T, H, W, 3]."""
    reader = _reader(path, size)
    indices = list(map(int, indices))
    try:
        batch = reader.get_batch(indices).asnumpy()
    except Exception as err:
        # decord 0.6.0: get_batch fails ("size must exactly match") for some output widths (1-4, 6, 8,
        # 12, 16, 24, 48, 72, ...) whose RGB rows are padded; single frames still decode: read those.
        try:
            batch = np.stack([_unpad(reader[i].asnumpy(), size) for i in indices])
        except Exception:
            raise VideoReadError(f"decoding failed ({_short(err)})") from None
    finally:
        del reader
    return np.ascontiguousarray(batch[..., :3])


def _unpad(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """One decord frame as [H, W, 3]: for padded widths decord returns [H, W, linesize // W] whose
    rows hold the real 3 * W bytes first (e.g. [48, 48, 4] for width 48), so cut each row."""
    if frame.shape[-1] == 3:
        return frame
    height, width = size if size is not None else frame.shape[:2]
    return frame.reshape(height, -1)[:, : 3 * width].reshape(height, width, 3)


def read_all(path: Path, size: tuple[int, int], n_frames: int | None = None) -> np.ndarray:
    """Decode every frame (or the first ``n_frames``) at ``size``: uint8 [N, H, W, 3]."""
    if n_frames is None:
        n_frames = probe(path)
    return read_frames(path, np.arange(n_frames), size)


def list_videos(root: Path) -> list[Path]:
    """Video files in a ``<Class>/<video>`` tree, sorted; the ``splits`` folder is ignored."""
    return sorted(
        p for p in root.glob("*/*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.parent.name != "splits" and p.is_file()
    )
