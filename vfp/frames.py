"""Conversions between uint8 pixel frames and model-space tensors.

This is THE single place where frames move between pixel space and model space (and between sizes:
:func:`resize`, :func:`resize_to_scales`; :func:`inner` cuts a border off):

* model space: float tensor in [-1, 1], ``x = (p - 127.5) / 127.5``
* pixel space: float tensor in [0, 255], ``p = x * 127.5 + 127.5`` (clamped)
* uint8: pixel space rounded to nearest integer and clamped to [0, 255]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["to_model", "to_pixels", "to_uint8", "clamp_model", "inner", "resize", "resize_to_scales", "PIXEL_SCALE",
           "PIXEL_OFFSET"]

PIXEL_SCALE = 127.5
PIXEL_OFFSET = 127.5


def clamp_model(x: torch.Tensor) -> torch.Tensor:
    """``x`` clamped to model space [-1, 1], with gradient 1 inside the range including its ends.

    ``torch.clamp`` passes no gradient at the bounds from torch 2.14 on (2.13 passed it): a residual model
    that starts as copy-last predicts exactly -1 / +1 on saturated (0 / 255) pixels and would learn
    nothing there. Values beyond the range are cut with no gradient, as by ``clamp``."""
    inside = (x >= -1) & (x <= 1)
    return torch.where(inside, x, x.detach().clamp(-1, 1))


def to_model(x: torch.Tensor) -> torch.Tensor:
    """uint8 (or float pixel) tensor in [0, 255] -> float32 tensor in [-1, 1]."""
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    return (x - PIXEL_OFFSET) / PIXEL_SCALE


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Model-space tensor in [-1, 1] -> float tensor in [0, 255] (clamped)."""
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    return (x * PIXEL_SCALE + PIXEL_OFFSET).clamp(0.0, 255.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Model-space tensor in [-1, 1] -> uint8 tensor (rounded, clamped)."""
    return to_pixels(x).round().clamp(0, 255).to(torch.uint8)


def resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """[..., C, H, W] (4-D) -> ``hw``: area when shrinking, else bilinear; ``x`` itself when already that size."""
    if tuple(x.shape[-2:]) == hw:
        return x
    if hw[0] <= x.shape[-2] and hw[1] <= x.shape[-1]:
        return F.interpolate(x, size=hw, mode="area")
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False)


def resize_to_scales(frames: torch.Tensor, sizes: Sequence[int | tuple[int, int]]) -> list[torch.Tensor]:
    """frames [B, C, H, W] -> list of [B, C, h_k, w_k] (area when shrinking, else bilinear).

    ``sizes``: ints (square) or (h, w) pairs, e.g. ``[p.shape[-2:] for p in preds]``.
    """
    return [resize(frames, (size, size) if isinstance(size, int) else tuple(int(s) for s in size)) for size in sizes]


def inner(x: torch.Tensor, margin: int) -> torch.Tensor:
    """``x [..., H, W]`` without a border of ``margin`` pixels on every side (``x`` itself when 0)."""
    if margin <= 0:
        return x
    h, w = x.shape[-2:]
    if h <= 2 * margin or w <= 2 * margin:
        raise ValueError(f"a {margin}-pixel margin leaves nothing of {h}x{w} frames")
    return x[..., margin:h - margin, margin:w - margin]
