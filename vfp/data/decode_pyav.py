"""PyAV backend for :mod:`vfp.data.video`: FFmpeg through PyAV's wheels (Linux x86-64/aarch64, macOS, Windows).

Frames are decoded in order from the start (no seeking: frame indices stay exact whatever the
container's timestamps say) on one thread, and only the wanted ones are converted to RGB at the
training size with FFmpeg's bilinear scaler, as decord does, so both backends give close pixels.
The frame count is the number of frames that really decode; an FFmpeg error while reading makes the
file unreadable (decord refuses the same files when it builds its index).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vfp.data.videofile import VideoReadError, check_file, short_reason

_THREADS_KW: dict | None = None


def _open(path: Path):
    import av  # imported lazily, like decord: nothing native is loaded in the parent until needed

    check_file(path)
    try:
        container = av.open(os.fspath(path))
    except Exception as err:  # av.error.InvalidDataError, av.error.FFmpegError subclasses, OSError
        raise VideoReadError(f"not a readable video ({short_reason(err)})") from None
    if not container.streams.video:
        container.close()
        raise VideoReadError("no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "SLICE"
    stream.codec_context.thread_count = 1  # one decoding thread: DataLoader workers are the parallelism
    return container, stream


def _frames(path: Path):
    """Decoded frames in order; an FFmpeg error while reading becomes VideoReadError."""
    container, stream = _open(path)
    n = 0
    try:
        for frame in container.decode(stream):
            yield frame
            n += 1
    except VideoReadError:
        raise
    except Exception as err:
        raise VideoReadError(f"decoding failed after {n} frames ({short_reason(err)})") from None
    finally:
        container.close()


def count(path: Path) -> int:
    """Number of frames that really decode. Raises VideoReadError."""
    n = sum(1 for _ in _frames(path))
    if n < 1:
        raise VideoReadError("no frame decodes")
    return n


def read(path: Path, indices: list[int], size: tuple[int, int] | None) -> np.ndarray:
    """Frames ``indices`` (sorted) at ``size`` (H, W; None: the video's own): uint8 [T, H, W, 3]."""
    wanted: dict[int, list[int]] = {}
    for position, index in enumerate(indices):
        wanted.setdefault(int(index), []).append(position)
    out = np.empty((len(indices), *(size or (0, 0)), 3), dtype=np.uint8) if size or not wanted else None
    last, found = max(wanted, default=-1), 0
    if last < 0:
        return out
    frames = _frames(path)
    try:
        for index, frame in enumerate(frames):
            if index in wanted:
                try:
                    rgb = to_rgb(frame, size)
                except Exception as err:  # a frame FFmpeg decoded but cannot convert
                    raise VideoReadError(f"frame {index} cannot be converted ({short_reason(err)})") from None
                if out is None:
                    out = np.empty((len(indices), *rgb.shape), dtype=np.uint8)
                for position in wanted[index]:
                    out[position] = rgb
                found += 1
            if index == last:
                break
    finally:
        frames.close()
    if found < len(wanted):
        raise VideoReadError(f"frame {last} does not decode (fewer frames than indexed)")
    return out


def to_rgb(frame, size: tuple[int, int] | None) -> np.ndarray:
    """One PyAV frame as uint8 [H, W, 3] at ``size`` (None: its own): bilinear, one scaling thread
    (PyAV >= 17 asks)."""
    height, width = size if size is not None else (frame.height, frame.width)
    return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BILINEAR",
                            **_threads_kw())


def _threads_kw() -> dict:
    global _THREADS_KW
    if _THREADS_KW is None:  # PyAV 17 added multithreaded scaling, on all CPUs by default
        import av

        _THREADS_KW = {"threads": 1} if int(av.__version__.split(".")[0]) >= 17 else {}
    return _THREADS_KW
