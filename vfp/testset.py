"""The test clips an evaluation scores: which videos, at what size, in which loader, and their baseline cache.

Every ``evaluate.every``-th test video gives ``evaluate.clips_per_video`` clips of ``n_ctx + horizon``
frames (every ``data.interval`` frames, fixed evenly spaced starts) at ``evaluate.size`` (``source``: each
video at its own size, batched by size), with ``n_ctx = max(model.n_input, evaluate.context)``. Masks and
baseline statistics depend only on these clips and the protocol: they are cached under
``<data.cache>/baselines/`` and reused by every later evaluation of other models.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, DataLoader

from vfp.baselines import BaselineCache, cache_key
from vfp.config import decode_size
from vfp.data.loaders import make_loader, test_dataset
from vfp.data.splits import read_split
from vfp.errors import VfpError
from vfp.metrics import STAT_NAMES

MIN_CONTEXT = 4  # context frames of every test clip (more when a model takes more)
BATCH_PIXELS = 240 * 320  # at each video's own size, a batch holds batch_size clips of this many pixels


def select_videos(videos: list, every: int) -> list:
    """Every ``every``-th test video in split order: items 0, every, 2 * every, ..."""
    return list(videos)[::every]


def gif_videos(videos: list, n: int) -> list[str]:
    """Stems of ``n`` test videos for the report's GIF pairs, one class after another (a video's class is
    its folder), so the pairs show several classes instead of the first class's videos."""
    by_class: dict[str, list[str]] = {}
    for video in videos:
        stems = by_class.setdefault(Path(video.path).parent.name, [])
        if video.stem not in stems:  # a video's temporal segments share its stem
            stems.append(video.stem)
    turns = zip_longest(*by_class.values())
    return [stem for turn in turns for stem in turn if stem is not None][:n]


def source_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of a video file's first video stream (PyAV); VfpError when unreadable."""
    import av  # optional native dependency, loaded only for evaluate.size: source

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return int(stream.height), int(stream.width)
    except Exception as err:  # noqa: BLE001 - any container error is one line naming the file
        raise VfpError(f"{path}: cannot read the video size for evaluate.size: source "
                       f"({str(err).splitlines()[0][:80] if str(err) else type(err).__name__})") from None


def resolve_eval_size(cfg: Any, videos: list) -> tuple[int, int] | None:
    """``evaluate.size`` as ``(H, W)``: ``train`` = data.size; None = each test video at its own size
    (``source``, or ``train`` when data.size is ``source``)."""
    size = cfg.evaluate.size
    if size == "train" and cfg.data.size != "source":
        return tuple(cfg.data.size)
    if size in ("source", "train"):
        if not videos:
            raise VfpError("evaluate.size: source needs at least one test video")
        return None
    return tuple(size)


def size_groups(videos: list, size: tuple[int, int] | None) -> list[tuple[tuple[int, int], list]]:
    """``[(size, videos)]``: the test videos by the size they are scored at, sizes in first-seen order
    (``size`` None: each video's own; a video whose size cannot be read joins the first group and is
    counted as unreadable when its clips fail to decode)."""
    if size is not None:
        return [(tuple(size), list(videos))]
    groups: dict[tuple[int, int], list] = {}
    unsized = []
    for video in videos:
        try:
            groups.setdefault(source_size(Path(video.path)), []).append(video)
        except VfpError:
            unsized.append(video)
    if not groups:
        raise VfpError(f"evaluate.size: source: cannot read the size of any of the {len(videos)} test videos, "
                       f"e.g. {unsized[0].path if unsized else '(none)'}")
    first = next(iter(groups))
    groups[first] += unsized
    return list(groups.items())


def group_batches(lengths: list[int], sizes: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Index batches over the concatenation of groups of ``lengths`` clips: never two sizes in one batch,
    and at most ``batch_size`` clips of :data:`BATCH_PIXELS` pixels' worth (1080p: one clip a batch)."""
    batches, offset = [], 0
    for n, (h, w) in zip(lengths, sizes):
        per = max(1, min(batch_size, batch_size * BATCH_PIXELS // (h * w)))
        batches += [list(range(offset + i, offset + min(i + per, n))) for i in range(0, n, per)]
        offset += n
    return batches


def _stamp(path: Path) -> str:
    try:
        st = Path(path).stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "missing"


def baseline_cache_for(cfg: Any, split_file: Path, videos: list, *, n_ctx: int,
                       size: tuple[int, int] | None) -> BaselineCache:
    """The :class:`vfp.baselines.BaselineCache` of these test clips, protocol and size
    (under ``<data.cache>/baselines/``; in memory only when ``data.cache`` is empty)."""
    ev = cfg.evaluate
    parts = {"split": hashlib.sha256(Path(split_file).read_bytes()).hexdigest(),
             "videos": [[repr(v), _stamp(v.path)] for v in videos], "n_ctx": n_ctx, "horizon": ev.horizon,
             "interval": cfg.data.interval, "size": list(size) if size else "source", "every": ev.every,
             "clips_per_video": ev.clips_per_video, "mask": ev.mask,
             "moving_threshold": ev.moving_threshold, "flow_threshold": ev.flow_threshold,
             "skip_above_db": ev.skip_above_db, "ssim": ev.ssim, "stats": list(STAT_NAMES),
             "decoder": getattr(cfg.data, "decoder", None),
             "train_size": list(decode_size(cfg.data.size) or ["source"])}
    folder = Path(cfg.data.cache) / "baselines" if cfg.data.cache else None
    return BaselineCache(folder, cache_key(parts, cfg.flow))


@dataclass
class TestSet:
    """The test clips of one evaluation: their loader, videos, context frames, sizes (one per group of
    videos scored at that size; ``size`` is the first) and baseline cache."""

    loader: DataLoader
    videos: list
    n_ctx: int
    sizes: list[tuple[int, int]]
    cache: BaselineCache

    @property
    def size(self) -> tuple[int, int]:
        return self.sizes[0]

    @property
    def n_clips(self) -> int:
        return len(self.loader.dataset)

    def size_text(self) -> str:
        """``240x320``, or ``each video's own size (3 sizes, 180x320 to 1080x1920)``."""
        if len(self.sizes) == 1:
            return f"{self.size[0]}x{self.size[1]}"
        small, large = min(self.sizes, key=lambda s: s[0] * s[1]), max(self.sizes, key=lambda s: s[0] * s[1])
        return (f"each video's own size ({len(self.sizes)} sizes, {small[0]}x{small[1]} to "
                f"{large[0]}x{large[1]})")


def test_set(cfg: Any, split_dir: Path, model: torch.nn.Module, *, num_workers: int,
             device: torch.device) -> TestSet:
    """The test clips under ``cfg.evaluate`` (``cfg``: a :class:`vfp.config.Config`) for ``model``; at
    ``evaluate.size: source`` every video at its own size, batched by size."""
    ev, split_file = cfg.evaluate, Path(split_dir) / "test.txt"
    n_ctx = max(int(model.n_input), ev.context)
    videos = select_videos(read_split(Path(split_dir), "test"), ev.every)
    size = resolve_eval_size(cfg, videos)
    cache = Path(cfg.data.cache) if cfg.data.cache and size is not None and size == decode_size(cfg.data.size) else None
    groups = size_groups(videos, size)
    parts = [test_dataset(group, n_frames=n_ctx + ev.horizon, interval=cfg.data.interval, size=hw,
                          clips_per_video=ev.clips_per_video, cache_dir=cache, decoder=cfg.data.decoder)
             for hw, group in groups]
    if sum(len(part) for part in parts) == 0:
        raise VfpError(f"{split_file}: no test video is long enough for {n_ctx + ev.horizon} frames every "
                       f"{cfg.data.interval} ({n_ctx} context + horizon {ev.horizon})")
    sizes = [hw for hw, _ in groups]
    if size is not None:
        loader = make_loader(parts[0], None, ev.batch_size, num_workers, device)
    else:
        batches = group_batches([len(part) for part in parts], sizes, ev.batch_size)
        loader = DataLoader(ConcatDataset(parts), batch_sampler=batches, num_workers=num_workers,
                            pin_memory=device.type == "cuda")
    return TestSet(loader, videos, n_ctx, sizes, baseline_cache_for(cfg, split_file, videos, n_ctx=n_ctx, size=size))
