"""The test evaluator: the model beside the non-learned baselines on the same test clips (the evaluate stage).

The step outputs every predictor's per-frame statistics (:mod:`vfp.engines.metrics` turns them into
``state.metrics[<predictor>]``, per horizon step) and the clips' frames (:class:`GifClips` keeps a few).
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import torch
from ignite.engine import Engine, Events
from torch import nn

from vfp import keys
from vfp.baselines import BaselineCache, baseline_batch
from vfp.engines.metrics import attach_test_metrics
from vfp.errors import VfpError
from vfp.metrics import per_step_metrics
from vfp.models.contract import predict_any_size


class BaselineSource:
    """Masks and baseline statistics of a batch: from ``cache`` when it holds every clip of the batch,
    else computed (:func:`vfp.baselines.baseline_batch` under ``ev``, the evaluate settings, and ``flow_cfg``,
    the flow baseline's method; None: Farneback) and stored. ``seconds``: the time spent computing them."""

    def __init__(self, ev: Any, cache: BaselineCache | None = None, flow_cfg: Any = None):
        self.ev, self.cache, self.flow_cfg = ev, cache if cache is not None else BaselineCache(None, "memory"), flow_cfg
        self.seconds = 0.0

    def __call__(self, context: torch.Tensor, target: torch.Tensor, clip_keys: Sequence[str]) -> dict[str, Any]:
        rec = self.cache.lookup(clip_keys) if clip_keys else None
        if rec is None:
            t0 = time.perf_counter()
            rec = baseline_batch(context, target, self.ev, self.flow_cfg)
            self.seconds += time.perf_counter() - t0
            if clip_keys:
                self.cache.store(clip_keys, rec)
        return rec


class GifClips:
    """The first clip of each of the first ``n`` videos of a run (of ``videos``, video stems, when given):
    ``clips`` = ``[(video, context, pred, target)]`` as CPU tensors (``[T, C, H, W]``), in ``videos``' order."""

    def __init__(self, n: int, videos: Sequence[str] | None = None):
        self.n, self.videos, self.clips = n, None if videos is None else list(videos), []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self._order)

    def reset(self, engine: Engine | None = None) -> None:
        self.clips = []

    def __call__(self, engine: Engine) -> None:
        if engine.state.output is None:  # a batch none of whose clips could be read
            return
        videos, numbers, context, pred, target = engine.state.output["clips"]
        for i in range(context.shape[0]):
            wanted = self.videos is None or str(videos[i]) in self.videos
            if len(self.clips) < self.n and int(numbers[i]) == 0 and wanted:
                self.clips.append((str(videos[i]), context[i].cpu(), pred[i].cpu(), target[i].cpu()))

    def _order(self, engine: Engine | None = None) -> None:
        if self.videos is not None:
            self.clips.sort(key=lambda clip: self.videos.index(clip[0]))


def readable_rows(batch: Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
    """``batch`` without its clips that could not be read (``ok`` False), and how many those were."""
    ok = batch.get("ok")
    if ok is None or bool(ok.all()):
        return batch, 0
    rows = ok.nonzero().flatten().tolist()
    kept = {k: v[ok] if torch.is_tensor(v) else [v[i] for i in rows] for k, v in batch.items()}
    return kept, len(ok) - len(rows)


def create_test_evaluator(model: nn.Module, *, n_ctx: int, horizon: int, device: torch.device,
                          baselines: BaselineSource) -> Engine:
    """Ignite Engine whose step runs the model on one batch and scores it beside the baselines.

    Batches are dicts with ``frames [B, n_ctx + horizon, C, H, W]``, ``video`` names, ``key``s and ``clip``
    numbers (:class:`vfp.data.loaders.KeyedClips`); the model gets the last ``model.n_input`` of the
    ``n_ctx`` context frames. ``state.metrics[<predictor>]`` after a run: ``{metric: [per step]}`` for the
    model and each baseline (:data:`vfp.keys.PREDICTORS`). Clips that could not be read (``ok`` False) are
    left out and counted: ``state.scored`` and ``state.unreadable`` after a run.
    """
    n_input = int(model.n_input)
    if n_input > n_ctx:
        raise ValueError(f"n_ctx {n_ctx} < the model's n_input {n_input}")
    luma = baselines.ev.ssim == "luma"

    @torch.no_grad()
    def step(engine: Engine, batch: Mapping[str, Any]) -> dict[str, Any] | None:
        batch, unreadable = readable_rows(batch)
        engine.state.unreadable += unreadable
        engine.state.scored += int(batch["frames"].shape[0])
        if batch["frames"].shape[0] == 0:
            return None
        frames = batch["frames"].to(device, non_blocking=device.type == "cuda").float()
        context, target = frames[:, :n_ctx], frames[:, n_ctx:n_ctx + horizon]
        rec = baselines(context, target, list(batch.get("key", [])))
        try:
            pred = predict_any_size(model, context[:, n_ctx - n_input:], horizon).float()
        except ValueError as err:  # e.g. a context the model cannot read
            raise VfpError(f"the model cannot predict these clips: {err}") from None
        n = frames.shape[0]
        clips = (batch.get("video", [""] * n), batch.get("clip", [0] * n), context, pred, target)
        return {keys.MODEL: per_step_metrics(pred, target, context[:, -1], mask=rec["mask"], keep=rec["keep"],
                                             ssim_luma=luma),
                **{name: rec["stats"][name] for name in keys.BASELINES}, "clips": clips}

    engine = Engine(step)
    engine.add_event_handler(Events.STARTED, _reset_counts)
    attach_test_metrics(engine)
    return engine


def _reset_counts(engine: Engine) -> None:
    engine.state.scored, engine.state.unreadable = 0, 0
