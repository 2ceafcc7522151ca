"""Supervised trainer (Lp + optional GDL, teacher forcing) and the validation evaluator."""
from __future__ import annotations

from typing import Callable

import torch
from ignite.engine import Engine
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce
from torch import nn

from vfp.baselines import FLOW, predictors
from vfp.engines.common import (
    Keys,
    autocast,
    effective_amp,
    make_scaler,
    optimizer_step,
    prepare_frames,
    random_crop,
    resolve_device,
    split_clip,
    unwrap,
)
from vfp.frames import to_pixels
from vfp.losses import gdl_loss, lp_loss
from vfp.metrics import PEAK, copy_last_prediction, db, psnr_frames


def create_supervised_trainer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    n_output: int,
    grad_clip: float = 1.0,
    device: str | torch.device = "cpu",
    amp: str = "none",
    crop: int = 0,
    channels_last: bool = False,
    p: float = 2,
    lam_gdl: float = 0.0,
    alpha: float = 1.0,
) -> Engine:
    """Engine whose step trains ``model`` on one batch dict (``frames [B, T, C, H, W]``).

    context = the first ``n_input`` frames, target = the next ``n_output``;
    ``model(context, n_output, future=target)`` (teacher forcing), Lp loss (L2 by default)
    plus ``lam_gdl`` times the gradient-difference loss (exponent ``alpha``) when > 0, backward, grad-norm
    clip (0 disables), step. Output: ``{"loss": float}``.
    """
    device = resolve_device(device)
    amp = effective_amp(amp, device)
    scaler = make_scaler(amp, device)
    n_input = unwrap(model).n_input

    def step(engine: Engine, batch) -> dict[str, float]:
        model.train()
        frames = random_crop(prepare_frames(batch, device, channels_last=channels_last), crop)
        context, target = split_clip(frames, n_input, n_output)
        optimizer.zero_grad(set_to_none=True)
        with autocast(amp, device):
            pred = model(context, n_output, future=target)
        loss = lp_loss(pred.float(), target, p)
        if lam_gdl > 0:
            loss = loss + lam_gdl * gdl_loss(pred.float(), target, alpha)
        optimizer_step(loss, optimizer, model.parameters(), grad_clip, scaler)
        return {Keys.LOSS.value: loss.item()}

    engine = Engine(step)
    engine.scaler = scaler  # exposed so the checkpoint can save it (fp16 only)
    return engine


class PredictionPSNR(Metric):
    """Validation PSNR per horizon step of the model and of both baselines (copy-last, flow) on the same clips.

    ``psnr_t{k}``: PSNR (dB, peak 255) of the MSE pooled over every clip's frame at step k (as the
    test metrics: a frozen frame cannot dominate); ``copy_last_psnr_t{k}`` and ``flow_psnr_t{k}`` the same
    for the baselines; ``gain_t{k}`` (over copy-last) and ``gain_flow_t{k}`` the differences;
    ``gain_best_t1`` the gain over the stronger baseline at t+1 (what model selection ranks);
    ``psnr_frame_t1`` the mean of per-frame PSNR (capped, :func:`vfp.metrics.psnr_frames`);
    ``psnr_mean`` / ``gain_mean`` over steps; ``copy_last_diff_t1`` / ``flow_diff_t1``: the largest
    |model - baseline| pixel difference at t+1 (0: the model IS that baseline, e.g. an untrained residual
    model on that base). Expects ``(pred, target, context, flow_pred)``, ``[B, T, C, H, W]``. Reduced
    across processes.
    """

    def __init__(self, horizon: int, device: str | torch.device = "cpu"):
        self.horizon = horizon
        super().__init__(output_transform=lambda x: x, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        zeros = lambda: torch.zeros(self.horizon, dtype=torch.float64, device=self._device)  # noqa: E731
        self._sq, self._sq_copy, self._sq_flow, self._frame = zeros(), zeros(), zeros(), zeros()
        self._count = torch.zeros((), dtype=torch.float64, device=self._device)
        self._diff = torch.zeros((), dtype=torch.float64, device=self._device)
        self._diff_flow = torch.zeros((), dtype=torch.float64, device=self._device)

    @reinit__is_reduced
    def update(self, output) -> None:
        pred, target, context, flow_pred = output
        b, t = target.shape[:2]
        px_p, px_t = to_pixels(pred.detach().float()), to_pixels(target.detach().float())
        px_c = to_pixels(copy_last_prediction(context[:, -1].detach().float(), t))
        px_f = to_pixels(flow_pred.detach().float())
        for acc, px in ((self._sq, px_p), (self._sq_copy, px_c), (self._sq_flow, px_f)):
            acc += (px - px_t).pow(2).flatten(2).mean(2).double().sum(0).to(self._device)
        psnr = psnr_frames(px_p.flatten(0, 1), px_t.flatten(0, 1)).reshape(b, t).double().to(self._device)
        self._frame += psnr.sum(0)
        self._count += b
        self._diff = torch.maximum(self._diff, (px_p[:, 0] - px_c[:, 0]).abs().max().double().to(self._device))
        self._diff_flow = torch.maximum(self._diff_flow,
                                        (px_p[:, 0] - px_f[:, 0]).abs().max().double().to(self._device))

    @sync_all_reduce("_sq", "_sq_copy", "_sq_flow", "_frame", "_count", "_diff:MAX", "_diff_flow:MAX")
    def compute(self) -> dict[str, float]:
        if self._count.item() == 0:
            raise RuntimeError("PredictionPSNR needs at least one batch")
        sums = (self._sq, self._sq_copy, self._sq_flow)
        model, copy, flow = (db(PEAK**2 / (sq / self._count)).tolist() for sq in sums)
        out: dict[str, float] = {}
        for k, (m, c, f) in enumerate(zip(model, copy, flow), 1):
            out.update({f"psnr_t{k}": m, f"copy_last_psnr_t{k}": c, f"gain_t{k}": m - c,
                        f"flow_psnr_t{k}": f, f"gain_flow_t{k}": m - f})
        out["gain_best_t1"] = model[0] - max(copy[0], flow[0])
        out["psnr_frame_t1"] = float(self._frame[0] / self._count)
        out[Keys.PSNR_MEAN.value] = sum(model) / len(model)
        out["gain_mean"] = (sum(model) - sum(copy)) / len(model)
        out["copy_last_diff_t1"], out["flow_diff_t1"] = float(self._diff), float(self._diff_flow)
        return out


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
    Farneback). ``state.metrics``: see :class:`PredictionPSNR`
    (model selection ranks ``gain_best_t1``, the gain over the stronger baseline at t+1).
    """
    flow = flow or predictors()[FLOW]
    n_ctx = max(n_input, 2)
    device = resolve_device(device)
    amp = effective_amp(amp, device)

    @torch.no_grad()
    def step(engine: Engine, batch):
        model.eval()
        frames = prepare_frames(batch, device)
        context, target = split_clip(frames, max(n_input, min(n_ctx, frames.shape[1] - horizon)), horizon)
        with autocast(amp, device):
            pred = model(context[:, -n_input:], horizon)
        return pred.float(), target, context, flow(context, horizon).float()

    engine = Engine(step)
    PredictionPSNR(horizon, device=device).attach(engine, "psnr")
    return engine
