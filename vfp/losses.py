"""Losses (pure functions). Frames [B, C, H, W] (any leading dims for lp/gdl)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "d_loss",
    "g_adversarial_loss",
    "gdl_loss",
    "lp_loss",
    "multiscale_generator_loss",
]


def lp_loss(pred: torch.Tensor, target: torch.Tensor, p: float = 2) -> torch.Tensor:
    """Mean over elements of |pred - target|^p."""
    return (pred - target).abs().pow(p).mean()


def gdl_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 1) -> torch.Tensor:
    """Gradient difference loss (Mathieu et al.) on [..., H, W].

    mean | |dx target| - |dx pred| |^alpha + mean | |dy target| - |dy pred| |^alpha,
    with dx, dy the differences between horizontally / vertically neighbouring pixels.
    A direction with a single pixel (no neighbours) contributes 0.
    """
    total = pred.new_zeros(())
    for dim in (-1, -2):
        if pred.shape[dim] < 2:
            continue
        d_pred, d_target = pred.diff(dim=dim).abs(), target.diff(dim=dim).abs()
        total = total + (d_target - d_pred).abs().pow(alpha).mean()
    return total


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator BCE-with-logits: real -> 1, fake -> 0, each averaged, summed."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def g_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator BCE-with-logits of the fake logits against 1, averaged."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def multiscale_generator_loss(
    preds: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    fake_logits: torch.Tensor | None,
    lam_lp: float = 1.0,
    lam_gdl: float = 1.0,
    lam_adv: float = 0.05,
    p: float = 2,
    alpha: float = 1,
    scales: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Sum over scales of lam_lp*Lp + lam_gdl*GDL + lam_adv*adv.

    preds, targets: per-scale [B, C, h_k, w_k], coarse to fine; fake_logits [B, S]
    (D on the predictions) or None. Keys: ``total`` and ``lp_s{k}``, ``gdl_s{k}``,
    ``adv_s{k}`` (adv only when used) with k = ``scales[i]`` or, if not given, the
    prediction height. No adversarial term when fake_logits is None or lam_adv == 0.
    """
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
    names = list(scales) if scales is not None else [pr.shape[-2] for pr in preds]
    use_adv = fake_logits is not None and lam_adv != 0
    if use_adv and fake_logits.shape[-1] != len(preds):
        raise ValueError(f"fake_logits has {fake_logits.shape[-1]} scales, expected {len(preds)}")
    out: dict[str, torch.Tensor] = {}
    total = preds[0].new_zeros(())
    for i, (name, pred, target) in enumerate(zip(names, preds, targets)):
        out[f"lp_s{name}"] = lp_loss(pred, target, p)
        out[f"gdl_s{name}"] = gdl_loss(pred, target, alpha)
        total = total + lam_lp * out[f"lp_s{name}"] + lam_gdl * out[f"gdl_s{name}"]
        if use_adv:
            out[f"adv_s{name}"] = g_adversarial_loss(fake_logits[:, i])
            total = total + lam_adv * out[f"adv_s{name}"]
    out["total"] = total
    return out
