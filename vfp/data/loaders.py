"""Datasets and loaders of a run: the training / validation clips and the test clips, with their samplers.

Every order is reproducible: the training shuffle is a pure function of (seed, epoch), each loader
has its own generator (never the global RNG), and each process takes its own share
(:class:`EpochSampler`), so a resumed or multi-process run sees the same clips.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vfp.config import decode_size
from vfp.data.augment import from_train_config
from vfp.data.clips import ClipDataset
from vfp.data.splits import read_split
from vfp.distributed import note_global_batch
from vfp.errors import VfpError

VAL_CLIPS = 256  # validation clips at most (model selection compares every epoch on the same ones)


class EpochSampler(Sampler[int]):
    """Indices of this rank's share of the data; the shuffle is a pure function of (seed, epoch).

    ``set_epoch(epoch, skip=0)`` must be called before iterating; ``skip`` drops the first
    indices (resuming in the middle of an epoch). Padded by repetition so that every rank
    gets the same count (``ceil(n / world_size)``).
    """

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1):
        if n < 1:
            raise ValueError("the dataset is empty")
        self.n, self.seed, self.shuffle, self.rank, self.world_size = n, seed, shuffle, rank, world_size
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = int(epoch), int(skip)

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = math.ceil(self.n / self.world_size)
        order = (order * math.ceil(per_rank * self.world_size / self.n))[: per_rank * self.world_size]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.skip :])

    def __len__(self) -> int:
        return math.ceil(self.n / self.world_size)


def make_loader(dataset: Dataset, sampler: Sampler | None, batch_size: int, num_workers: int,
                device: torch.device, seed: int = 0) -> DataLoader:
    """A DataLoader in ``sampler``'s order (the dataset's own order when None) with its own generator."""
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=num_workers,
        pin_memory=device.type == "cuda", drop_last=False,
        generator=torch.Generator().manual_seed(seed),  # never draws from the global RNG
        persistent_workers=False,
    )


def train_val_datasets(cfg: Any, split_dir: Path, n_input: int, n_output: int,
                       margin: int = 0) -> tuple[Dataset, Dataset]:
    """Training clips of ``n_input + n_output`` frames (``train.starts``, crops, strides, augmentation) and
    validation clips of ``max(n_input, 2) + train.val_horizon`` frames (the flow baseline reads two context
    frames; starts every ``data.interval`` frames, at most :data:`VAL_CLIPS`, never augmented; at
    ``data.size: source``, ``train.crop`` windows at fixed random places: full frames of every size cannot
    share a batch, and cost up to ~20x a window on CPU) from ``split_dir``'s lists; ``cfg`` is a
    :class:`vfp.config.Config`. ``margin``: windows of ``train.crop`` plus that border on every side."""
    tc, split_dir, size = cfg.train, Path(split_dir), decode_size(cfg.data.size)
    cache = Path(cfg.data.cache) if cfg.data.cache else None
    starts = {"starts": "all", "max_clips": tc.clips_per_epoch} if tc.starts == "all" else {"random_start": True}
    window = (tc.crop + 2 * margin,) * 2 if tc.crop else None  # margin: the flow base's border around a crop
    train = ClipDataset(read_split(split_dir, "train"), n_input + n_output, cfg.data.interval, size,
                        clips_per_video=tc.clips_per_video, seed=cfg.seed, cache_dir=cache,
                        augment=from_train_config(tc), crop=window,
                        steps=tuple(tc.stride), decoder=cfg.data.decoder, **starts)
    val = ClipDataset(read_split(split_dir, "val"), max(n_input, 2) + tc.val_horizon, cfg.data.interval,
                      size, seed=cfg.seed, cache_dir=cache, starts="all", stride=cfg.data.interval,
                      max_clips=VAL_CLIPS, crop=window if size is None else None,  # fixed: no set_epoch
                      decoder=cfg.data.decoder)
    if len(train) == 0:
        raise VfpError(f"{split_dir}/train.txt: no video is long enough for {n_input + n_output} frames "
                       f"every {cfg.data.interval}")
    return train, val


@dataclass
class TrainLoaders:
    """This process's training and validation loaders (``val`` None without validation clips)."""

    train_data: Dataset
    val_data: Dataset
    sampler: EpochSampler
    train: DataLoader
    val: DataLoader | None
    per_rank_batch: int

    def set_epoch(self, epoch: int, done: int) -> None:
        """Epoch ``epoch``'s order, skipping the ``done`` iterations already run (a resume mid-epoch)."""
        self.sampler.set_epoch(epoch, skip=max(0, done) * self.per_rank_batch)
        if hasattr(self.train_data, "set_epoch"):
            self.train_data.set_epoch(epoch)


def train_loaders(cfg: Any, train_data: Dataset, val_data: Dataset, *, rank: int, world: int,
                  device: torch.device, say: Callable[[str], None]) -> TrainLoaders:
    """Loaders of this rank's share (``train.batch_size`` / ``evaluate.batch_size`` split over ``world``;
    ``say``: the note when the global batch does not split evenly)."""
    tc = cfg.train
    per_rank_batch = note_global_batch(tc.batch_size, world, say)
    sampler = EpochSampler(len(train_data), seed=cfg.seed, shuffle=True, rank=rank, world_size=world)
    train = make_loader(train_data, sampler, per_rank_batch, tc.num_workers, device, cfg.seed)
    val = None
    if len(val_data) > 0:
        val_sampler = EpochSampler(len(val_data), shuffle=False, rank=rank, world_size=world)
        val = make_loader(val_data, val_sampler, max(1, cfg.evaluate.batch_size // world), tc.num_workers,
                          device, cfg.seed)
    return TrainLoaders(train_data, val_data, sampler, train, val, per_rank_batch)


class KeyedClips(Dataset):
    """A clip dataset whose items also carry ``key`` = ``index:video:start`` (the baseline cache key) and
    ``clip``, the clip's number within its video (0 .. ``clips_per_video - 1``)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        item["key"] = f"{index}:{item.get('video', '')}:{item.get('start', '')}"
        item["clip"] = index % getattr(self.dataset, "clips_per_video", 1)
        return item


def test_dataset(videos: Sequence, *, n_frames: int, interval: int, size: tuple[int, int], clips_per_video: int,
                 cache_dir: Path | None, decoder: str, unreadable: str = "mark") -> KeyedClips:
    """``clips_per_video`` clips of ``n_frames`` per test video at fixed, evenly spaced starts (keyed), read by
    ``decoder``; a clip that cannot be read is an item with ``ok`` False (``unreadable="mark"``), never
    another video's clip."""
    return KeyedClips(ClipDataset(videos, n_frames=n_frames, interval=interval, size=size, random_start=False,
                                  clips_per_video=clips_per_video, cache_dir=cache_dir, decoder=decoder,
                                  unreadable=unreadable))
