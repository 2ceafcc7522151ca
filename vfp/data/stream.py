"""Stream a whole video frame by frame (memory flat in its length), with either decoder backend.

:func:`video_info` reads the container's header (size, frame rate, claimed frame count) with PyAV;
:func:`iter_frames` yields uint8 ``[H, W, 3]`` frames in order, decoded ``chunk`` at a time by decord
(``decoder: decord``) or one at a time by PyAV (``pyav``, and ``auto``: see :func:`iter_frames`).
``size`` (H, W) scales every frame (bilinear, as the training data is read);
``None`` keeps the video's own size. Errors are :class:`~vfp.data.video.VideoReadError`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from vfp.data import decode_decord, decode_pyav
from vfp.data.video import VideoReadError, check_file, decoder_choice, short_reason

__all__ = ["VideoInfo", "video_info", "iter_frames"]


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: ``size`` (H, W), ``fps`` (25 when it does not say) and ``frames``
    (the claimed count, 0 when unknown; the frames that really decode may be fewer)."""

    path: Path
    size: tuple[int, int]
    fps: float
    frames: int


def video_info(path: Path) -> VideoInfo:
    """The header of ``path``; VideoReadError for a file that is not a readable video."""
    import av  # optional native dependency, loaded when first needed

    path = Path(path)
    check_file(path)
    try:
        container = av.open(os.fspath(path))
    except Exception as err:  # av.error.InvalidDataError, FFmpegError subclasses, OSError
        raise VideoReadError(f"not a readable video ({short_reason(err)})") from None
    try:
        if not container.streams.video:
            raise VideoReadError("no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        size = (int(stream.codec_context.height), int(stream.codec_context.width))
        if min(size) < 1:
            raise VideoReadError("the video stream has no frame size")
        return VideoInfo(path, size, float(rate), int(stream.frames or 0))
    finally:
        container.close()


def iter_frames(path: Path, size: tuple[int, int] | None = None, decoder: str = "auto",
                chunk: int = 32) -> Iterator[np.ndarray]:
    """Every frame of ``path`` in order, uint8 ``[H, W, 3]`` at ``size`` (None: the video's own).

    ``auto`` streams with PyAV: read in order, PyAV's peak memory stays flat in the video's length, while
    decord's chunked reads beside the model grew it by 35% from 100 to 1,000 frames
    (benchmarks/predict_memory.py). ``decord`` asked for explicitly is used."""
    if decoder_choice(decoder) == "decord":
        n = decode_decord.count(Path(path))  # decord's own length can overshoot; reading past it can hang
        return _iter_decord(Path(path), size, chunk, n)
    return _iter_pyav(Path(path), size)


def _iter_pyav(path: Path, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
    for index, frame in enumerate(decode_pyav._frames(path)):
        try:
            yield decode_pyav.to_rgb(frame, size or (frame.height, frame.width))
        except Exception as err:  # a frame FFmpeg decoded but cannot convert
            raise VideoReadError(f"frame {index} cannot be converted ({short_reason(err)})") from None


def _iter_decord(path: Path, size: tuple[int, int] | None, chunk: int, n: int) -> Iterator[np.ndarray]:
    reader = decode_decord._reader(path, size)
    try:
        for start in range(0, n, max(1, chunk)):
            indices = list(range(start, min(n, start + chunk)))
            try:
                batch = reader.get_batch(indices).asnumpy()[..., :3]
            except Exception:  # padded RGB rows (see decode_decord.read): one frame at a time
                try:
                    batch = np.stack([decode_decord._unpad(reader[i].asnumpy(), size) for i in indices])
                except Exception as err:
                    raise VideoReadError(f"decoding failed at frame {start} ({short_reason(err)})") from None
            yield from np.ascontiguousarray(batch)
    finally:
        del reader
