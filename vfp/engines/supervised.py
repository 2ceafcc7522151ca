"""Supervised trainer (Lp + optional GDL, teacher forcing) and the validation evaluator."""
from __future__ import annotations

import torch
from ignite.engine import Engine
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce
from torch import nn

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
from vfp.losses import gdl_loss, lp_loss
from vfp.metrics import psnr_frames
from vfp.frames import to_pixels


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
    plus ``lam_gdl`` times the gradient-difference loss (exponent ``alpha``) when > 0, backward, grad-norm clip (0 disables), step. Output: ``{"loss": float}``.
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
    """PSNR (dB, peak 255) per horizon step, averaged over clips; outputs ``psnr_t1``,
    ``psnr_mean`` and ``psnr_t{k}``. Expects ``(pred, target)`` ``[B, T, C, H, W]``.

    Uses :func:`vfp.metrics.psnr_frames` (the same per-frame PSNR as ``per_step_metrics``,
    without the SSIM/moving-pixel work that validation does not need). Reduced across
    processes.
    """

    def __init__(self, horizon: int, device: str | torch.device = "cpu"):
        self.horizon = horizon
        super().__init__(output_transform=lambda x: x, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        self._sum = torch.zeros(self.horizon, dtype=torch.float64, device=self._device)
        self._count = torch.zeros((), dtype=torch.float64, device=self._device)

    @reinit__is_reduced
    def update(self, output) -> None:
        pred, target = output
        b, t = target.shape[:2]
        px_p = to_pixels(pred.detach().float()).flatten(0, 1)
        px_t = to_pixels(target.detach().float()).flatten(0, 1)
        psnr = psnr_frames(px_p, px_t).reshape(b, t).double().to(self._device)
        self._sum += psnr.sum(0)
        self._count += b

    @sync_all_reduce("_sum", "_count")
    def compute(self) -> dict[str, float]:
        if self._count.item() == 0:
            raise RuntimeError("PredictionPSNR needs at least one batch")
        per_step = (self._sum / self._count).tolist()
        out = {f"psnr_t{k + 1}": v for k, v in enumerate(per_step)}
        out[Keys.PSNR_MEAN.value] = sum(per_step) / len(per_step)
        return out


def create_evaluator(
    model: nn.Module,
    *,
    n_input: int,
    horizon: int,
    device: str | torch.device = "cpu",
    amp: str = "none",
) -> Engine:
    """Validation engine: autoregressive prediction of ``horizon`` frames in eval mode.

    Clips need ``n_input + horizon`` frames. ``state.metrics`` gets ``psnr_t1``,
    ``psnr_t{k}``, ``psnr_mean`` (the best checkpoint uses ``psnr_t1``).
    """
    device = resolve_device(device)
    amp = effective_amp(amp, device)

    @torch.no_grad()
    def step(engine: Engine, batch):
        model.eval()
        frames = prepare_frames(batch, device)
        context, target = split_clip(frames, n_input, horizon)
        with autocast(amp, device):
            pred = model(context, horizon)
        return pred.float(), target

    engine = Engine(step)
    PredictionPSNR(horizon, device=device).attach(engine, "psnr")
    return engine
