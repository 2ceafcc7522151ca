"""Clip dataset: ``T`` frames of one video, every ``interval`` frames, as [T, C, H, W] in [-1, 1].

Entries are whole videos (:class:`~vfp.data.video.VideoEntry`) or temporal segments of one
(:class:`VideoSegment`, frames ``start .. stop-1``); a clip never leaves its segment.

Where clips start:
- ``starts="all"`` (training default): every valid start of every entry (``stride`` apart) is one item;
  ``max_clips > 0`` caps an epoch at that many items, a different random subset each epoch;
- ``random_start=True``: ``clips_per_video`` clips per entry at random starts;
- otherwise ``clips_per_video`` fixed, evenly spaced starts per entry (val/test).
Every draw is a pure function of (seed, epoch, index), so a resumed run sees the same clips and
workers need no shared RNG. ``augment`` (e.g. :class:`vfp.data.augment.ClipAugment`) is applied to each
clip with such an RNG. Readers are opened inside ``__getitem__`` (never in the parent before
DataLoader workers fork). With a cache folder, each video is decoded once at the training size to a
uint8 ``.npy`` and later reads are memory-mapped (segments of one video share its cache file).

``size=None`` reads frames at each video's own size (``data.size: source``); ``crop=(h, w)`` then cuts
one window per clip, the same in every frame and inside the frame (``crop_at="random"``: drawn per clip
from its RNG; ``"center"``: the middle). ``steps=(a, b)`` draws, per clip, a temporal stride k in
[a, b]: the clip takes every ``k * interval``-th frame (a k that does not fit its entry is lowered).
``decoder`` (auto | decord | pyav: ``data.decoder``) reads every frame, here and in DataLoader workers.
A clip that fails to decode is replaced by another item (training: ``unreadable="replace"``) or returned
as zeros with ``ok`` False, for the caller to skip and count (test clips: ``"mark"``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vfp.data.cache import cache_writable, cached_clip
from vfp.data.video import VideoEntry, VideoReadError, decoder_choice, probe, read_frames
from vfp.fileio import warn
from vfp.frames import to_model


@dataclass(frozen=True)
class VideoSegment(VideoEntry):
    """Frames ``start .. stop-1`` of a video of ``n_frames`` (a temporal split's train/val/test part)."""

    start: int = 0
    stop: int = 0

    @property
    def stem(self) -> str:
        return f"{self.path.stem}_f{self.start:04d}-{self.stop - 1:04d}"


def frame_range(entry: VideoEntry) -> tuple[int, int]:
    """``(first, stop)`` frames usable for clips of ``entry`` (the whole video or its segment)."""
    if isinstance(entry, VideoSegment):
        return entry.start, min(entry.stop, entry.n_frames)
    return 0, entry.n_frames


def clip_span(n_frames: int, interval: int) -> int:
    """Frames of video covered by one clip."""
    return (n_frames - 1) * interval + 1


def clip_indices(start: int, n_frames: int, interval: int) -> np.ndarray:
    return start + interval * np.arange(n_frames)


class ClipDataset(Dataset):
    """Clips of the usable entries; items ``{"frames", "video", "start"}`` (see the module doc)."""

    def __init__(self, videos: Sequence[VideoEntry | Path], n_frames: int, interval: int,
                 size: tuple[int, int] | None, *, random_start: bool = False, clips_per_video: int = 1,
                 seed: int = 0, cache_dir: Path | None = None, starts: Literal["spaced", "all"] = "spaced",
                 stride: int = 1, max_clips: int = 0,
                 augment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None,
                 crop: tuple[int, int] | None = None, crop_at: Literal["random", "center"] = "random",
                 steps: tuple[int, int] = (1, 1), decoder: str = "auto",
                 unreadable: Literal["replace", "mark"] = "replace"):
        if n_frames < 1 or interval < 1 or stride < 1 or max_clips < 0:
            raise ValueError(f"n_frames, interval, stride must be >= 1 and max_clips >= 0, got "
                             f"{n_frames}, {interval}, {stride}, {max_clips}")
        if not 1 <= steps[0] <= steps[1]:
            raise ValueError(f"steps must be [a, b] with 1 <= a <= b, got {list(steps)}")
        if crop is not None and min(crop) < 1:
            raise ValueError(f"crop must be >= 1 on each side, got {list(crop)}")
        if unreadable == "mark" and not (crop or size):
            raise ValueError("unreadable='mark' needs a size or a crop (the shape of a clip that cannot be read)")
        self.unreadable = unreadable
        self.crop, self.crop_at, self.steps = (tuple(crop) if crop else None), crop_at, tuple(steps)
        self.n_frames, self.interval, self.size = n_frames, interval, (tuple(size) if size else None)
        self.random_start, self.clips_per_video, self.seed = random_start, clips_per_video, seed
        self.all_starts, self.stride, self.max_clips, self.augment = starts == "all", stride, max_clips, augment
        self.cache_dir = Path(cache_dir) if cache_dir else None
        # a cache that cannot be written (read-only, full) is still read; warned once here, not per worker
        self.cache_store = self.cache_dir is not None and cache_writable(self.cache_dir)
        # the backend choice is an attribute, pickled into the workers (spawn or forkserver included)
        self.decoder = decoder_choice(decoder)
        self.epoch = 0
        span = clip_span(n_frames, interval * self.steps[0])
        self.videos: list[VideoEntry] = []
        self.skipped: list[dict] = []
        for video in videos:
            entry = video if isinstance(video, VideoEntry) else _probe_entry(Path(video), self.skipped, self.decoder)
            if entry is None:
                continue
            first, stop = frame_range(entry)
            if stop - first < span:
                self.skipped.append({"file": str(entry.path), "reason": f"{stop - first} frames < clip span {span}"})
                continue
            self.videos.append(entry)
        if self.skipped:
            warn(f"{len(self.skipped)} videos too short or unreadable for {n_frames} frames every {interval}; skipped")
        # all-starts mode: cumulative item counts per entry
        counts = [(frame_range(v)[1] - frame_range(v)[0] - span) // stride + 1 for v in self.videos]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @property
    def n_all(self) -> int:
        """Number of distinct (entry, start) clips in all-starts mode."""
        return int(self._offsets[-1])

    def __len__(self) -> int:
        if self.all_starts:
            return min(self.n_all, self.max_clips) if self.max_clips else self.n_all
        return len(self.videos) * self.clips_per_video

    def set_epoch(self, epoch: int) -> None:
        """Random starts, the capped subset and augmentations depend on the epoch (call at each epoch start)."""
        self.epoch = int(epoch)

    def locate(self, index: int) -> tuple[int, int]:
        """``(entry number, start frame)`` of item ``index`` in this epoch."""
        v, start, _ = self.clip_at(index)
        return v, start

    def clip_at(self, index: int) -> tuple[int, int, int]:
        """``(entry number, start frame, frame step)`` of item ``index`` in this epoch."""
        if self.all_starts:
            if self.max_clips and self.max_clips < self.n_all:
                index = int(self._subset()[index])
            v = int(np.searchsorted(self._offsets, index, side="right") - 1)
            first, stop = frame_range(self.videos[v])
            step = self._step(index, stop - first)
            start = first + (index - int(self._offsets[v])) * self.stride
            return v, min(start, stop - clip_span(self.n_frames, step)), step
        v = index // self.clips_per_video
        first, stop = frame_range(self.videos[v])
        step = self._step(index, stop - first)
        last_start = stop - clip_span(self.n_frames, step)
        if self.random_start:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return v, int(rng.integers(first, last_start + 1)), step
        k = index % self.clips_per_video
        return v, first + int(round((last_start - first) * (k + 1) / (self.clips_per_video + 1))), step

    def _step(self, index: int, length: int) -> int:
        """Frame step of item ``index`` (``interval`` times k drawn in ``steps``; at most what ``length`` holds)."""
        lo, hi = self.steps
        if hi == 1:
            return self.interval
        k = int(np.random.default_rng([self.seed, self.epoch, index, 17]).integers(lo, hi + 1))
        if self.n_frames > 1:
            k = min(k, (length - 1) // ((self.n_frames - 1) * self.interval))
        return self.interval * max(k, lo)

    def frame_indices(self, index: int) -> tuple[int, np.ndarray]:
        """``(entry number, frame indices)`` of item ``index`` in this epoch."""
        v, start, step = self.clip_at(index)
        return v, clip_indices(start, self.n_frames, step)

    def _subset(self) -> np.ndarray:
        """This epoch's random order of all clips (its first ``max_clips`` are used), cached per epoch."""
        if getattr(self, "_perm_epoch", None) != self.epoch:
            self._perm = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n_all)
            self._perm_epoch = self.epoch
        return self._perm

    def start_of(self, index: int) -> int:
        return self.locate(index)[1]

    def __getitem__(self, index: int) -> dict:
        """One clip; a video that fails to decode now (or is smaller than the crop) is reported in one line
        and another item used (``unreadable="replace"``), or the item is marked ``ok`` False (``"mark"``)."""
        n = len(self)
        for attempt in range(min(n, 8) if self.unreadable == "replace" else 1):
            item = (index + attempt * max(1, n // 8 + 1)) % n
            v, indices = self.frame_indices(item)
            video = self.videos[v]
            try:
                frames = self._frames(video, indices, item)
            except VideoReadError as err:
                if self.unreadable == "mark":
                    warn(f"skipping the clip at frame {int(indices[0])} of {video.path}: {err}; not scored")
                    return self._unread(video, indices)
                warn(f"skipping {video.path} in this epoch: {err}")
                continue
            tensor = to_model(torch.from_numpy(frames).permute(0, 3, 1, 2))
            if self.augment is not None:
                tensor = self.augment(tensor, np.random.default_rng([self.seed, self.epoch, item, 11]))
            out = {"frames": tensor, "video": video.stem, "start": int(indices[0])}
            return {**out, "ok": True} if self.unreadable == "mark" else out
        raise VideoReadError(f"no decodable video near item {index}")

    def _unread(self, video: VideoEntry, indices: np.ndarray) -> dict:
        """The item of a clip that could not be read (``unreadable="mark"``): zero frames, ``ok`` False."""
        frames = torch.zeros(len(indices), 3, *(self.crop or self.size))
        return {"frames": frames, "video": video.stem, "start": int(indices[0]), "ok": False}

    def _frames(self, video: VideoEntry, indices: np.ndarray, item: int) -> np.ndarray:
        """uint8 [T, H, W, 3] of ``indices``, cut to this item's crop window when ``crop`` is set."""
        if self.cache_dir is not None:
            frames = cached_clip(video, self.cache_dir, self.size, indices, self.decoder,  # checksums checked
                                 store=self.cache_store)
        else:
            frames = read_frames(video.path, indices, self.size, self.decoder)
        if self.crop is None:
            return frames
        y, x = self.window(frames.shape[1:3], item)
        return np.ascontiguousarray(frames[:, y:y + self.crop[0], x:x + self.crop[1]])

    def window(self, frame_size: tuple[int, int], item: int) -> tuple[int, int]:
        """Top-left corner ``(y, x)`` of item ``item``'s crop in frames of ``frame_size`` (inside them)."""
        (h, w), (ch, cw) = frame_size, self.crop
        if ch > h or cw > w:
            raise VideoReadError(f"frames {h}x{w} are smaller than the crop {ch}x{cw}")
        if self.crop_at == "center":
            return (h - ch) // 2, (w - cw) // 2
        rng = np.random.default_rng([self.seed, self.epoch, item, 13])
        return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))


def _probe_entry(path: Path, skipped: list[dict], decoder: str) -> VideoEntry | None:
    try:
        return VideoEntry(path, probe(path, decoder))
    except VideoReadError as err:
        warn(f"skipping {path}: {err}")
        skipped.append({"file": str(path), "reason": str(err)})
        return None
