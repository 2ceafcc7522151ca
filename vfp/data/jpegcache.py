"""The frame-cache entry for frames at their own size (``data.size: source``): one JPEG per frame.

Raw frames at a video's own size are ~10x larger than the compressed video (ucf101-mini: 5.8 GB of
uint8 for 88 MB of AVIs); JPEG at quality :data:`QUALITY` without chroma subsampling (4:4:4) keeps them
at an eighth to a ninth of that, 44.7-46.5 dB PSNR against the decoded frames, ~0.6 ms to decode a 320x240
frame (measured on three real videos, 240x320 to 720x1280). Evaluation reads the
videos themselves at source size, never this cache, so only training and validation crops see it.

Layout: :data:`MAGIC`, ``n, H, W`` (uint32), ``n + 1`` byte offsets (uint64, from the end of the
header), ``n`` CRC-32s of the JPEG bytes (uint32), then the JPEG bytes. An entry whose size does not
match its offsets is not trusted; a frame whose bytes fail their CRC is reported by the caller.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vfp.fileio import atomic_open

__all__ = ["MAGIC", "QUALITY", "JpegEntry", "load_entry", "store_entry"]

MAGIC = b"VFPJPG01"
QUALITY = 95


@dataclass(frozen=True)
class JpegEntry:
    """An entry's index: where each frame's JPEG bytes are and their CRC-32s."""

    path: Path
    shape: tuple[int, int, int, int]  # n, H, W, 3
    start: int  # byte offset of the first JPEG
    offsets: np.ndarray  # [n + 1], relative to ``start``
    crcs: np.ndarray  # [n]

    def read(self, indices: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """uint8 ``[T, H, W, 3]`` of frames ``indices`` and the indices whose bytes fail their CRC."""
        import cv2  # optional native dependency (opencv), loaded when an entry is read

        frames, bad = np.empty((len(indices), *self.shape[1:]), np.uint8), []
        with open(self.path, "rb") as handle:
            for k, i in enumerate(int(i) for i in indices):
                handle.seek(self.start + int(self.offsets[i]))
                blob = handle.read(int(self.offsets[i + 1] - self.offsets[i]))
                if zlib.crc32(blob) != int(self.crcs[i]):
                    bad.append(i)
                    continue
                image = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
                if image is None or image.shape != self.shape[1:]:
                    bad.append(i)
                    continue
                frames[k] = image[..., ::-1]
        return frames, bad


def store_entry(path: Path, frames: np.ndarray) -> None:
    """Write ``frames`` (uint8 [n, H, W, 3], RGB) as one JPEG entry, atomically and durably."""
    import cv2  # optional native dependency (opencv), loaded when an entry is written

    params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    blobs = [cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), params)[1].tobytes() for frame in frames]
    offsets = np.cumsum([0, *map(len, blobs)]).astype("<u8")
    crcs = np.array([zlib.crc32(blob) for blob in blobs], dtype="<u4")
    header = np.array([len(frames), *frames.shape[1:3]], dtype="<u4")
    with atomic_open(path) as handle:
        handle.write(MAGIC + header.tobytes() + offsets.tobytes() + crcs.tobytes())
        for blob in blobs:
            handle.write(blob)


def load_entry(path: Path, n_frames: int) -> JpegEntry | None:
    """The index of entry ``path``, or None when it is missing, of another frame count, or cut."""
    try:
        with open(path, "rb") as handle:
            magic, header = handle.read(len(MAGIC)), np.frombuffer(handle.read(12), dtype="<u4")
            if magic != MAGIC or len(header) != 3 or int(header[0]) != n_frames:
                return None
            offsets = np.frombuffer(handle.read(8 * (n_frames + 1)), dtype="<u8")
            crcs = np.frombuffer(handle.read(4 * n_frames), dtype="<u4")
            start = handle.tell()
        size = Path(path).stat().st_size
    except (OSError, ValueError):
        return None
    if len(offsets) != n_frames + 1 or len(crcs) != n_frames or size != start + int(offsets[-1]):
        return None
    return JpegEntry(Path(path), (n_frames, int(header[1]), int(header[2]), 3), start, offsets, crcs)
