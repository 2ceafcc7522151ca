"""The test clips an evaluation scores: which videos, at what size, in which loader, and their baseline cache.

Every ``evaluate.every``-th test video gives ``evaluate.clips_per_video`` clips of ``n_ctx + horizon``
frames (every ``data.interval`` frames, fixed evenly spaced starts) at ``evaluate.size``, with
``n_ctx = max(model.n_input, evaluate.context)``. Masks and baseline statistics depend only on these
clips and the protocol: they are cached under ``<data.cache>/baselines/`` and reused by every later
evaluation of other models.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from vfp.baselines import BaselineCache, cache_key
from vfp.config import decode_size
from vfp.data.loaders import make_loader, test_dataset
from vfp.data.splits import read_split
from vfp.errors import VfpError
from vfp.metrics import STAT_NAMES

MIN_CONTEXT = 4  # context frames of every test clip (more when a model takes more)


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


def resolve_eval_size(cfg: Any, videos: list) -> tuple[int, int]:
    """``evaluate.size`` as ``(H, W)``: ``train`` = data.size, ``source`` (or ``train`` when data.size is
    ``source``) = the first test video's own size."""
    size = cfg.evaluate.size
    if size == "train" and cfg.data.size != "source":
        return tuple(cfg.data.size)
    if size in ("source", "train"):  # train at data.size: source = the test videos' own size
        if not videos:
            raise VfpError("evaluate.size: source needs at least one test video")
        return source_size(Path(videos[0].path))
    return tuple(size)


def check_model_size(model: torch.nn.Module, size: tuple[int, int], name: str) -> None:
    """One-line VfpError when ``model`` cannot run on ``size`` frames (its ``stride`` must divide H and W)."""
    stride = int(getattr(model, "stride", 1) or 1)
    if size[0] % stride or size[1] % stride:
        raise VfpError(f"params.yaml: evaluate.size {list(size)}: {name} needs H and W divisible by its stride "
                       f"{stride}; pick evaluate.size [H, W] with multiples of {stride} (or evaluate.size: train)")


def _stamp(path: Path) -> str:
    try:
        st = Path(path).stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "missing"


def baseline_cache_for(cfg: Any, split_file: Path, videos: list, *, n_ctx: int, size: tuple[int, int]) -> BaselineCache:
    """The :class:`vfp.baselines.BaselineCache` of these test clips, protocol and size
    (under ``<data.cache>/baselines/``; in memory only when ``data.cache`` is empty)."""
    ev = cfg.evaluate
    parts = {"split": hashlib.sha256(Path(split_file).read_bytes()).hexdigest(),
             "videos": [[repr(v), _stamp(v.path)] for v in videos], "n_ctx": n_ctx, "horizon": ev.horizon,
             "interval": cfg.data.interval, "size": list(size), "every": ev.every,
             "clips_per_video": ev.clips_per_video, "mask": ev.mask,
             "moving_threshold": ev.moving_threshold, "flow_threshold": ev.flow_threshold,
             "skip_above_db": ev.skip_above_db, "ssim": ev.ssim, "stats": list(STAT_NAMES),
             "decoder": getattr(cfg.data, "decoder", None),
             "train_size": list(decode_size(cfg.data.size) or ["source"])}
    folder = Path(cfg.data.cache) / "baselines" if cfg.data.cache else None
    return BaselineCache(folder, cache_key(parts, cfg.flow))


@dataclass
class TestSet:
    """The test clips of one evaluation: their loader, videos, context frames, size and baseline cache."""

    loader: DataLoader
    videos: list
    n_ctx: int
    size: tuple[int, int]
    cache: BaselineCache

    @property
    def n_clips(self) -> int:
        return len(self.loader.dataset)


def test_set(cfg: Any, split_dir: Path, model: torch.nn.Module, *, num_workers: int,
             device: torch.device) -> TestSet:
    """The test clips under ``cfg.evaluate`` (``cfg``: a :class:`vfp.config.Config`) for ``model``;
    refuses a size the model cannot run at, before any decoding."""
    ev, split_file = cfg.evaluate, Path(split_dir) / "test.txt"
    n_ctx = max(int(model.n_input), ev.context)
    videos = select_videos(read_split(Path(split_dir), "test"), ev.every)
    size = resolve_eval_size(cfg, videos)
    check_model_size(model, size, cfg.model)
    cache = Path(cfg.data.cache) if cfg.data.cache and size == decode_size(cfg.data.size) else None
    dataset = test_dataset(videos, n_frames=n_ctx + ev.horizon, interval=cfg.data.interval, size=size,
                           clips_per_video=ev.clips_per_video, cache_dir=cache, decoder=cfg.data.decoder)
    if len(dataset) == 0:
        raise VfpError(f"{split_file}: no test video is long enough for {n_ctx + ev.horizon} frames every "
                       f"{cfg.data.interval} ({n_ctx} context + horizon {ev.horizon})")
    loader = make_loader(dataset, None, ev.batch_size, num_workers, device)
    return TestSet(loader, videos, n_ctx, size, baseline_cache_for(cfg, split_file, videos, n_ctx=n_ctx, size=size))
