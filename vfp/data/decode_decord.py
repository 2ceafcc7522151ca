"""decord backend for :mod:`vfp.data.video`: short-lived readers, verified frame counts.

decord traps handled here: ``len(reader)`` trusts the container and can be too high, and reading
past the real end can hang or fail in native code, so :func:`count` finds the number of frames that
really decode and callers clamp to it. ``decord.DECORDError`` is a plain ``Exception`` subclass:
it is caught and reported as :class:`VideoReadError` instead of crashing a DataLoader worker.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vfp.data.videofile import VideoReadError, check_file, short_reason


def _reader(path: Path, size: tuple[int, int] | None):
    import decord  # imported lazily: keeps worker start-up cheap and the parent fork-safe

    decord.logging.set_level(decord.logging.QUIET)  # FFmpeg's own stderr noise; we report one line per file
    check_file(path)
    kwargs = {"num_threads": 1}
    if size is not None:
        kwargs.update(height=size[0], width=size[1])
    try:
        return decord.VideoReader(os.fspath(path), **kwargs)
    except Exception as err:  # decord.DECORDError and RuntimeError from bad containers
        raise VideoReadError(f"not a readable video ({short_reason(err)})") from None


def count(path: Path) -> int:
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


def read(path: Path, indices: list[int], size: tuple[int, int] | None) -> np.ndarray:
    """Frames ``indices`` (sorted) at ``size`` (H, W; None: the video's own): uint8 [T, H, W, 3]."""
    reader = _reader(path, size)
    try:
        batch = reader.get_batch(indices).asnumpy()
    except Exception as err:
        # decord 0.6.0: get_batch fails ("size must exactly match") for some output widths (1-4, 6, 8,
        # 12, 16, 24, 48, 72, ...) whose RGB rows are padded; single frames still decode: read those.
        try:
            batch = np.stack([_unpad(reader[i].asnumpy(), size) for i in indices])
        except Exception:
            raise VideoReadError(f"decoding failed ({short_reason(err)})") from None
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
