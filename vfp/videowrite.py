"""Write frames as they come: an MP4 (H.264 through PyAV), a GIF, or a folder of PNGs, chosen by the name.

``open_writer(out, fps)`` returns a writer with ``write(frame uint8 [H, W, 3])`` and ``close()``;
use it as a context manager. Outputs appear whole or not at all: the MP4 is encoded into a temp file
beside ``out`` and renamed on success (:func:`vfp.fileio.atomic_open`), the PNGs go to a temp folder
that replaces ``out`` (:func:`vfp.fileio.atomic_dir`). MP4 and PNG memory is flat in the number of
frames; a GIF holds its frames until it is written (GIF is for short clips).
H.264 in yuv420p needs even sides: an odd side is padded by repeating the last row / column.
"""
from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from vfp.errors import VfpError
from vfp.fileio import atomic_dir, atomic_open, atomic_write_bytes

__all__ = ["MP4_SUFFIXES", "GIF_SUFFIX", "output_kind", "open_writer"]

MP4_SUFFIXES = (".mp4", ".mov", ".mkv")
GIF_SUFFIX = ".gif"


def output_kind(out: Path) -> str:
    """``mp4`` | ``gif`` | ``png`` (a folder: a name without a suffix or an existing folder)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in MP4_SUFFIXES:
        return "mp4"
    if suffix == GIF_SUFFIX:
        return "gif"
    if not suffix or out.is_dir():
        return "png"
    raise VfpError(f"{out}: unknown output type {suffix!r}; name an .mp4, a .gif or a folder (PNG frames)")


def open_writer(out: Path, fps: float, crf: int = 18):
    """A writer for ``out`` (see the module doc); ``crf``: H.264 quality (0 lossless .. 51)."""
    kind = output_kind(out)
    if fps <= 0:
        raise VfpError(f"frame rate must be > 0, got {fps}")
    return {"mp4": Mp4Writer, "gif": GifWriter, "png": PngWriter}[kind](Path(out), fps, crf)


class _Writer:
    """Context-manager plumbing: ``close()`` on success, ``abort()`` (nothing left behind) on error."""

    frames = 0

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


class Mp4Writer(_Writer):
    """H.264 (libx264, yuv420p, ``crf``) in an MP4/MOV/MKV container at ``fps``."""

    def __init__(self, out: Path, fps: float, crf: int):
        self.out, self.fps, self.crf = out, fps, crf
        self._stack = contextlib.ExitStack()
        self._handle = self._stack.enter_context(atomic_open(out))
        self._container = None
        self._stream = None

    def _open(self, frame: np.ndarray) -> None:
        import av  # optional native dependency, loaded when first needed

        fmt = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}[self.out.suffix.lower()]
        self._container = av.open(self._handle, "w", format=fmt)
        stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        stream.height, stream.width = frame.shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 2
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        import av

        frame = _even(np.ascontiguousarray(frame, dtype=np.uint8))
        if self._stream is None:
            self._open(frame)
        self._container.mux(self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        self.frames += 1

    def close(self) -> None:
        if self._stream is None:
            self.abort()
            raise VfpError(f"{self.out}: no frame to write")
        self._container.mux(self._stream.encode())
        self._container.close()
        self._stack.close()  # renames the temp file into place

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)  # removes the temp file


class GifWriter(_Writer):
    """A looping GIF (Pillow), written when closed."""

    def __init__(self, out: Path, fps: float, crf: int):
        self.out, self.fps = out, fps
        self._frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self._frames.append(np.ascontiguousarray(frame, dtype=np.uint8))
        self.frames += 1

    def close(self) -> None:
        if not self._frames:
            raise VfpError(f"{self.out}: no frame to write")
        data = iio.imwrite("<bytes>", np.stack(self._frames), extension=".gif", plugin="pillow", is_batch=True,
                           duration=int(round(1000.0 / self.fps)), loop=0)
        atomic_write_bytes(self.out, data)

    def abort(self) -> None:
        self._frames.clear()


class PngWriter(_Writer):
    """``out/000000.png``, ``out/000001.png``, ... (the folder replaces ``out`` whole when closed)."""

    def __init__(self, out: Path, fps: float, crf: int):
        self.out = out
        if out.exists() and not out.is_dir():
            raise VfpError(f"{out}: exists and is not a folder; name a folder for PNG frames")
        self._stack = contextlib.ExitStack()
        self._dir = self._stack.enter_context(atomic_dir(out))

    def write(self, frame: np.ndarray) -> None:
        iio.imwrite(self._dir / f"{self.frames:06d}.png", np.ascontiguousarray(frame, dtype=np.uint8))
        self.frames += 1

    def close(self) -> None:
        self._stack.close()

    def abort(self) -> None:
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
