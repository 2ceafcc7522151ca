"""Clip dataset: ``T`` frames of one video, every ``interval`` frames, as [T, C, H, W] in [-1, 1].

Training clips start at a random frame in ``[0, N - 1 - (T - 1) * interval]``; the draw is a pure
function of (seed, epoch, index), so a resumed run sees the same clips and workers need no shared
RNG. Val/test clips start at fixed, evenly spaced frames. Readers are opened inside ``__getitem__``
(never in the parent before DataLoader workers fork). With a cache folder, each video is decoded
once at the training size to a uint8 ``.npy`` and later reads are memory-mapped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vfp.data.cache import cached_frames
from vfp.data.video import VideoEntry, VideoReadError, probe, read_frames
from vfp.fileio import warn
from vfp.frames import to_model


def clip_span(n_frames: int, interval: int) -> int:
    """Frames of video covered by one clip."""
    return (n_frames - 1) * interval + 1


def clip_indices(start: int, n_frames: int, interval: int) -> np.ndarray:
    return start + interval * np.arange(n_frames)


class ClipDataset(Dataset):
    """``clips_per_video`` clips from each usable video; items ``{"frames", "video", "start"}``."""

    def __init__(self, videos: Sequence[VideoEntry | Path], n_frames: int, interval: int,
                 size: tuple[int, int], *, random_start: bool, clips_per_video: int = 1, seed: int = 0,
                 cache_dir: Path | None = None):
        if n_frames < 1 or interval < 1:
            raise ValueError(f"n_frames and interval must be >= 1, got {n_frames}, {interval}")
        self.n_frames, self.interval, self.size = n_frames, interval, tuple(size)
        self.random_start, self.clips_per_video, self.seed = random_start, clips_per_video, seed
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.epoch = 0
        span = clip_span(n_frames, interval)
        self.videos: list[VideoEntry] = []
        self.skipped: list[dict] = []
        for video in videos:
            entry = video if isinstance(video, VideoEntry) else _probe_entry(Path(video), self.skipped)
            if entry is None:
                continue
            if entry.n_frames < span:
                self.skipped.append({"file": str(entry.path), "reason": f"{entry.n_frames} frames < clip span {span}"})
                continue
            self.videos.append(entry)
        if self.skipped:
            warn(f"{len(self.skipped)} videos too short or unreadable for {n_frames} frames every {interval}; skipped")

    def __len__(self) -> int:
        return len(self.videos) * self.clips_per_video

    def set_epoch(self, epoch: int) -> None:
        """Random starts depend on the epoch (call at each epoch start)."""
        self.epoch = int(epoch)

    def start_of(self, index: int) -> int:
        video = self.videos[index // self.clips_per_video]
        last_start = video.n_frames - clip_span(self.n_frames, self.interval)
        if self.random_start:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return int(rng.integers(0, last_start + 1))
        k = index % self.clips_per_video
        return int(round(last_start * (k + 1) / (self.clips_per_video + 1)))

    def __getitem__(self, index: int) -> dict:
        """One clip; a video that fails to decode now is reported once and the next video used."""
        for attempt in range(min(len(self), 8)):
            item = (index + attempt * self.clips_per_video) % len(self)
            video = self.videos[item // self.clips_per_video]
            start = self.start_of(item)
            try:
                frames = self._frames(video, clip_indices(start, self.n_frames, self.interval))
            except VideoReadError as err:
                warn(f"skipping {video.path} in this epoch: {err}")
                continue
            tensor = to_model(torch.from_numpy(frames).permute(0, 3, 1, 2))
            return {"frames": tensor, "video": video.stem, "start": start}
        raise VideoReadError(f"no decodable video near item {index}")

    def _frames(self, video: VideoEntry, indices: np.ndarray) -> np.ndarray:
        if self.cache_dir is not None:
            return np.asarray(cached_frames(video, self.cache_dir, self.size)[indices])
        return read_frames(video.path, indices, self.size)


def _probe_entry(path: Path, skipped: list[dict]) -> VideoEntry | None:
    try:
        return VideoEntry(path, probe(path))
    except VideoReadError as err:
        warn(f"skipping {path}: {err}")
        skipped.append({"file": str(path), "reason": str(err)})
        return None
