"""Decoded-frame cache: each video decoded once at the training size to a uint8 ``.npy`` [N, H, W, 3].

``size=None`` (``data.size: source``) stores each video once at its own size under ``<cache>/source/``;
training crops and temporal strides are cut from that one entry when read (memory-mapped).

Files are written atomically (temp + rename), so a killed run never leaves a half file that a later
read trusts, and an entry of the wrong shape (e.g. cut by a power loss: writes are not fsynced) is
decoded again; :func:`build_cache` fills the cache in parallel over videos and skips videos already done.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from vfp.data.video import VideoEntry, VideoReadError, decoder_name, read_all
from vfp.fileio import atomic_open, warn


def cache_path(video: VideoEntry, cache_dir: Path, size: tuple[int, int] | None, decoder: str | None = None) -> Path:
    """``<cache>/<H>x<W>/<Class>/<stem>-<hash of full path, size, mtime, frames, backend>.npy``
    (``<cache>/source/...`` for frames at their own size, ``size=None``).

    The file's size and mtime are in the key: a video regenerated or replaced at the same path (another
    sample seed, another folder copy) gets a new entry instead of the old frames. The decoder backend
    (``decord`` | ``pyav``, ``auto`` resolved) is in the key too: their pixels differ slightly.
    """
    try:
        st = video.path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "missing"
    key = f"{os.fspath(video.path)}\0{stamp}\0{video.n_frames}\0{decoder_name(decoder)}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    folder = f"{size[0]}x{size[1]}" if size else "source"
    return Path(cache_dir) / folder / video.path.parent.name / f"{video.path.stem}-{digest}.npy"


def cached_frames(video: VideoEntry, cache_dir: Path, size: tuple[int, int] | None,
                  decoder: str | None = None) -> np.ndarray:
    """Memory-mapped frames of ``video`` (at ``size``, None: its own), decoding and storing them first if
    needed (or if the entry is bad)."""
    path = cache_path(video, cache_dir, size, decoder)
    frames = _load(path, video.n_frames, size)
    if frames is None:
        _store(path, read_all(video.path, size, video.n_frames, decoder))
        frames = np.load(path, mmap_mode="r")
    return frames


def _load(path: Path, n_frames: int, size: tuple[int, int] | None) -> np.ndarray | None:
    """The memory-mapped entry, or None if it is missing, unreadable or of another shape (any H, W when
    ``size`` is None)."""
    try:
        frames = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return None
    shape = (n_frames, *size, 3) if size else (n_frames, *frames.shape[1:3], 3)
    return frames if frames.shape == shape and frames.dtype == np.uint8 else None


def _store(path: Path, frames: np.ndarray) -> None:
    # Atomic (readers never see a half file) but not fsynced: an entry a power cut leaves empty or short
    # fails _load's checks and is decoded again, and an fsync per video cost up to a quarter of the fill
    # time for short videos (benchmarks/decode.py).
    with atomic_open(path, durable=False) as handle:
        np.save(handle, frames)


def _fill_one(args: tuple[VideoEntry, Path, tuple[int, int] | None, str]) -> tuple[str, str | None]:
    video, cache_dir, size, decoder = args
    try:
        cached_frames(video, cache_dir, size, decoder)
        return str(video.path), None
    except VideoReadError as err:
        return str(video.path), str(err)


def build_cache(videos: Sequence[VideoEntry], cache_dir: Path, size: tuple[int, int] | None, workers: int = 2,
                decoder: str | None = None) -> dict:
    """Decode every video not cached yet (at ``size``, None: its own), ``workers`` processes in parallel;
    returns counts."""
    decoder = decoder_name(decoder)  # resolved once here: every worker uses the same backend
    size = tuple(size) if size else None
    todo = [v for v in videos if _load(cache_path(v, cache_dir, size, decoder), v.n_frames, size) is None]
    failed = []
    jobs = [(v, Path(cache_dir), size, decoder) for v in todo]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_fill_one, jobs, chunksize=4))
    else:
        results = [_fill_one(job) for job in jobs]
    for path, reason in results:
        if reason:
            warn(f"not cached {path}: {reason}")
            failed.append({"file": path, "reason": reason})
    paths = [cache_path(v, cache_dir, size, decoder) for v in videos]
    total = sum(p.stat().st_size for p in paths if p.is_file())
    return {"videos": len(videos), "decoded": len(todo) - len(failed), "already": len(videos) - len(todo),
            "failed": failed, "bytes": total}
