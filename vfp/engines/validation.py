"""The validation evaluator: the model beside both baselines on the validation clips, every epoch (model selection)."""
from __future__ import annotations

from typing import Callable

import torch
from ignite.engine import Engine
from torch import nn

from vfp import keys
from vfp.baselines import predictors
from vfp.engines.common import autocast, effective_amp, prepare_frames, resolve_device, split_clip
from vfp.engines.metrics import attach_validation_metrics
from vfp.frames import to_pixels
from vfp.metrics import VAL_STATS, copy_last_prediction, per_step_metrics
from vfp.models.contract import predict_any_size


def create_evaluator(
    model: nn.Module,
    *,
    n_input: int,
    horizon: int,
    device: str | torch.device = "cpu",
    amp: str = "none",
    flow: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
) -> Engine:
    """Validation engine: autoregressive prediction of ``horizon`` frames in eval mode, beside the baselines.

    Clips need ``n_input + horizon`` frames, better ``max(n_input, 2) + horizon`` (the flow baseline reads
    two context frames; with one it is copy-last); the model reads the last ``n_input`` context frames.
    ``flow(context, horizon)``: the flow baseline's prediction (:func:`vfp.baselines.predictors`; default
    Farneback). ``state.metrics`` after a run: the validation keys of :mod:`vfp.keys` (model selection ranks
    ``gain_best_t1``, the gain over the stronger baseline at t+1), computed like the test metrics
    (:mod:`vfp.engines.metrics`).
    """
    flow = flow or predictors()[keys.FLOW]
    n_ctx = max(n_input, 2)
    device = resolve_device(device)
    amp = effective_amp(amp, device)

    @torch.no_grad()
    def step(engine: Engine, batch) -> dict:
        model.eval()
        frames = prepare_frames(batch, device)
        context, target = split_clip(frames, max(n_input, min(n_ctx, frames.shape[1] - horizon)), horizon)
        with autocast(amp, device):
            pred = predict_any_size(model, context[:, -n_input:], horizon)
        last = context[:, -1]
        preds = {keys.MODEL: pred.float(), keys.COPY_LAST: copy_last_prediction(last, horizon),
                 keys.FLOW: flow(context, horizon).float()}
        out: dict = {name: per_step_metrics(p, target, last, stats=VAL_STATS) for name, p in preds.items()}
        first = {name: to_pixels(p[:, 0]) for name, p in preds.items()}
        out["diff"] = {name: first[keys.MODEL] - first[name] for name in keys.BASELINES}
        return out

    engine = Engine(step)
    attach_validation_metrics(engine)
    return engine
