"""Supervised trainer (Lp + optional GDL, teacher forcing)."""
from __future__ import annotations

import torch
from ignite.engine import Engine
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
from vfp.frames import inner
from vfp.losses import gdl_loss, lp_loss


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
    margin: int = 0,
) -> tuple[Engine, dict[str, torch.amp.GradScaler]]:
    """Engine whose step trains ``model`` on one batch dict (``frames [B, T, C, H, W]``), and the AMP scalers
    to checkpoint with it (``{"scaler": ...}`` with fp16 on CUDA, else empty).

    context = the first ``n_input`` frames, target = the next ``n_output``;
    ``model(context, n_output, future=target)`` (teacher forcing), Lp loss (L2 by default)
    plus ``lam_gdl`` times the gradient-difference loss (exponent ``alpha``) when > 0, backward, grad-norm clip
    (0 disables), step. Output: ``{"loss": float}``. ``margin``: the clips carry that border around the
    window the model predicts (its flow base reads it, :func:`vfp.models.base.set_base_margin`); the loss
    is scored inside it. ``crop`` is then the whole window's side.
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
        target = inner(target, margin)
        loss = lp_loss(pred.float(), target, p)
        if lam_gdl > 0:
            loss = loss + lam_gdl * gdl_loss(pred.float(), target, alpha)
        optimizer_step(loss, optimizer, model.parameters(), grad_clip, scaler)
        return {Keys.LOSS.value: loss.item()}

    return Engine(step), ({"scaler": scaler} if scaler is not None else {})
