"""Decoded-frame cache: each video decoded once at the training size to a uint8 ``.npy`` [N, H, W, 3].

``size=None`` (``data.size: source``) stores each video once at its own size under ``<cache>/source/``,
one JPEG per frame (:mod:`vfp.data.jpegcache`: about a tenth of the raw frames' bytes); training crops and
temporal strides are cut from that one entry when read.

An entry is the ``.npy`` followed by a trailer: one CRC-32 per frame and :data:`MAGIC`. It is written
atomically (temp + fsync + rename), so a killed run or a power cut never leaves a half file that a later
read trusts; an entry of the wrong size or without the trailer is decoded again, and :func:`cached_clip`
checks the CRC of every frame it returns: damaged bytes (a disk error, a zero-filled block) are reported
in one line and the entry is decoded again. File names are hashes, whatever the video's name.
:func:`build_cache` fills the cache in parallel over videos and skips videos already done.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from vfp.data import jpegcache
from vfp.data.video import VideoEntry, VideoReadError, decoder_choice, decoder_name, read_all
from vfp.errors import VfpError
from vfp.fileio import WriteError, atomic_open, warn

MAGIC = b"VFPCRC01"  # ends every entry, after the per-frame CRC-32s (little-endian uint32)


def cache_path(video: VideoEntry, cache_dir: Path, size: tuple[int, int] | None, decoder: str = "auto") -> Path:
    """``<cache>/<H>x<W>/<xx>/<hash>.npy`` (``<cache>/source/...`` for frames at their own size, ``size=None``);
    the hash covers the video's full path, its size and mtime, the frame count, the backend and the
    entry format, so any file name the OS accepts gives a short, valid cache name.

    The file's size and mtime are in the key: a video regenerated or replaced at the same path (another
    sample seed, another folder copy) gets a new entry instead of the old frames. The decoder backend
    (``decord`` | ``pyav``, ``auto`` resolved) is in the key too: their pixels differ slightly.
    """
    try:
        st = video.path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "missing"
    magic = MAGIC if size else jpegcache.MAGIC
    key = f"{os.fsencode(video.path)!r}\0{stamp}\0{video.n_frames}\0{decoder_name(decoder)}\0{magic!r}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    folder = f"{size[0]}x{size[1]}" if size else "source"
    return Path(cache_dir) / folder / digest[:2] / f"{digest}{'.npy' if size else '.jpgs'}"


def cached_frames(video: VideoEntry, cache_dir: Path, size: tuple[int, int],
                  decoder: str = "auto", store: bool = True) -> np.ndarray:
    """Memory-mapped frames of ``video`` at ``size``, decoding and storing them first if needed (or if the
    entry is cut or lacks its checksums). Frame contents are checked by :func:`cached_clip`.
    When the entry cannot be stored (``store`` False, or a disk full / read-only cache: one warning line
    per process), the decoded frames are returned as they are."""
    path = cache_path(video, cache_dir, size, decoder)
    entry = _load(path, video.n_frames, size)
    if entry is not None:
        return entry
    frames = read_all(video.path, size, video.n_frames, decoder)
    if not _stored(path, cache_dir, frames, size, store):
        return frames
    entry = _load(path, video.n_frames, size)
    if entry is None:
        raise VideoReadError(f"cache entry {path} cannot be read back after writing it")
    return entry


def _stored(path: Path, cache_dir: Path, frames: np.ndarray, size: tuple[int, int] | None, store: bool) -> bool:
    """True once ``frames`` are written to entry ``path``; False when the cache is not to be (or cannot be)
    written."""
    if not store or str(cache_dir) in _UNWRITABLE:
        return False
    try:
        _store(path, frames, size)
    except WriteError as err:
        _unwritable(cache_dir, err.reason)
        return False
    return True


def _drop_damaged(path: Path, video: VideoEntry, frame: int) -> None:
    """Report a cache entry whose ``frame`` fails its checksum, in one line, and remove it."""
    warn(f"cache entry {path} of {video.path} is damaged (frame {frame} fails its checksum); decoding the video again")
    path.unlink(missing_ok=True)


def _damaged_again(path: Path, cache_dir: Path) -> VideoReadError:
    return VideoReadError(f"cache entry {path} is damaged again right after decoding: check the disk of "
                          f"{Path(cache_dir)}")


def _source_clip(video: VideoEntry, cache_dir: Path, indices: np.ndarray, decoder: str, store: bool) -> np.ndarray:
    """:func:`cached_clip` for frames at their own size (a JPEG entry); what training reads is always the
    entry's frames, also in the epoch that writes it."""
    path = cache_path(video, cache_dir, None, decoder)
    for _ in range(2):
        entry = jpegcache.load_entry(path, video.n_frames)
        if entry is None:
            frames = read_all(video.path, None, video.n_frames, decoder)
            if not _stored(path, cache_dir, frames, None, store):
                return np.ascontiguousarray(frames[indices])
            entry = jpegcache.load_entry(path, video.n_frames)
            if entry is None:
                raise VideoReadError(f"cache entry {path} cannot be read back after writing it")
        out, bad = entry.read(indices)
        if not bad:
            return out
        _drop_damaged(path, video, bad[0])
    raise _damaged_again(path, cache_dir)


_UNWRITABLE: set[str] = set()  # cache folders this process cannot write to (warned once each)
_UNWRITABLE_REASON: dict[str, str] = {}


def _unwritable(cache_dir: Path, reason: str, quiet: bool = False) -> None:
    _UNWRITABLE_REASON[str(cache_dir)] = reason
    if str(cache_dir) not in _UNWRITABLE:
        _UNWRITABLE.add(str(cache_dir))
        if not quiet:
            warn(f"data.cache {cache_dir} cannot be written ({reason}): videos are decoded without storing them "
             "(free space there or make it writable to use the cache again)")


def cache_writable(cache_dir: Path, quiet: bool = False) -> bool:
    """True when a file can be created in ``cache_dir``; else False and one warning line unless ``quiet``
    (entries already there are still read)."""
    probe = Path(cache_dir) / f".write_probe_{os.getpid()}"
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
        return True
    except OSError as err:
        _unwritable(cache_dir, err.strerror or str(err), quiet)
        return False


def cached_clip(video: VideoEntry, cache_dir: Path, size: tuple[int, int] | None, indices: np.ndarray,
                decoder: str = "auto", store: bool = True) -> np.ndarray:
    """Frames ``indices`` of ``video`` from its cache entry, uint8 [T, H, W, 3], each checked against its
    CRC-32; a damaged entry is reported in one line, decoded again and read again."""
    if size is None:
        return _source_clip(video, cache_dir, indices, decoder, store)
    path = cache_path(video, cache_dir, size, decoder)
    for _ in range(2):
        frames = cached_frames(video, cache_dir, size, decoder, store)
        if not isinstance(frames, np.memmap):  # just decoded, not stored
            return np.ascontiguousarray(frames[indices])
        crcs = _crcs(path, len(frames))
        out = np.ascontiguousarray(frames[indices])
        bad = [int(i) for i, frame in zip(indices, out) if zlib.crc32(frame) != int(crcs[i])]
        if not bad:
            return out
        _drop_damaged(path, video, bad[0])
    raise _damaged_again(path, cache_dir)


def _load(path: Path, n_frames: int, size: tuple[int, int] | None) -> np.memmap | jpegcache.JpegEntry | None:
    """The memory-mapped frames (the JPEG entry's index when ``size`` is None), or None if the entry is
    missing, unreadable, of another shape or without its full CRC trailer."""
    if size is None:
        return jpegcache.load_entry(path, n_frames)
    try:
        frames = np.load(path, mmap_mode="r")
        file_size = path.stat().st_size
        with open(path, "rb") as handle:
            handle.seek(file_size - len(MAGIC))
            magic = handle.read(len(MAGIC))
    except (OSError, ValueError, EOFError):
        return None
    if frames.shape != (n_frames, *size, 3) or frames.dtype != np.uint8 or magic != MAGIC:
        return None
    if file_size != frames.offset + frames.nbytes + 4 * n_frames + len(MAGIC):
        return None
    return frames


def _crcs(path: Path, n_frames: int) -> np.ndarray:
    """The per-frame CRC-32s stored at the end of entry ``path``."""
    trailer = 4 * n_frames + len(MAGIC)
    with open(path, "rb") as handle:
        handle.seek(-trailer, os.SEEK_END)
        return np.frombuffer(handle.read(4 * n_frames), dtype="<u4")


def _store(path: Path, frames: np.ndarray, size: tuple[int, int] | None) -> None:
    """Write ``frames`` + their CRC-32s atomically and durably (fsync: a power cut cannot leave a renamed
    entry whose blocks never reached the disk); a JPEG entry when ``size`` is None."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if size is None:
        jpegcache.store_entry(path, frames)
        return
    crcs = np.array([zlib.crc32(frame) for frame in frames], dtype="<u4")
    with atomic_open(path) as handle:
        np.save(handle, frames)
        handle.write(crcs.tobytes() + MAGIC)


def _fill_one(args: tuple[VideoEntry, Path, tuple[int, int] | None, str]) -> tuple[str, str | None, str | None]:
    """``(video, unreadable reason, write error)`` after storing one video's entry."""
    video, cache_dir, size, decoder = args
    try:
        _store(cache_path(video, cache_dir, size, decoder), read_all(video.path, size, video.n_frames, decoder), size)
        return str(video.path), None, None
    except VideoReadError as err:
        return str(video.path), str(err), None
    except WriteError as err:
        return str(video.path), None, str(err)


def build_cache(videos: Sequence[VideoEntry], cache_dir: Path, size: tuple[int, int] | None, workers: int = 2,
                decoder: str = "auto") -> dict:
    """Decode every video not cached yet (at ``size``, None: its own), ``workers`` processes in parallel;
    returns counts."""
    decoder = decoder_choice(decoder)  # checked here, then passed to every worker with its job
    size = tuple(size) if size else None
    todo = [v for v in videos if _load(cache_path(v, cache_dir, size, decoder), v.n_frames, size) is None]
    if todo and not cache_writable(cache_dir, quiet=True):
        raise VfpError(f"data.cache {cache_dir} cannot be written: {_UNWRITABLE_REASON.get(str(cache_dir))}; "
                       "make it writable or point data.cache elsewhere")
    failed = []
    jobs = [(v, Path(cache_dir), size, decoder) for v in todo]
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: a decoder's threads in this process (decord readers not yet collected) would
        # leave locks a forked child deadlocks on when it collects them (seen with decord 0.6)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_fill_one, jobs, chunksize=4))
    else:
        results = [_fill_one(job) for job in jobs]
    write_errors = [error for _, _, error in results if error]
    if write_errors:  # disk full during the fill: the entries written so far are whole and kept
        raise VfpError(f"{write_errors[0]} ({len(write_errors)} of {len(jobs)} videos not stored)")
    for path, reason, _ in results:
        if reason:
            warn(f"not cached {path}: {reason}")
            failed.append({"file": path, "reason": reason})
    paths = [cache_path(v, cache_dir, size, decoder) for v in videos]
    total = sum(p.stat().st_size for p in paths if p.is_file())
    return {"videos": len(videos), "decoded": len(todo) - len(failed), "already": len(videos) - len(todo),
            "failed": failed, "bytes": total}
