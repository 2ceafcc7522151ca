"""Dense optical flow (OpenCV Farneback: no weights, every platform) and backward warping.

Convention: ``flow(a, b)`` returns ``F [N, 2, H, W]`` (x, y in pixels) with ``a(p) ~ b(p + F(p))``,
i.e. where each pixel of ``a`` is found in ``b``. Tensors are pixel values in [0, 255].
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FARNEBACK", "gray_u8", "flow", "warp", "magnitude"]

# cv2.calcOpticalFlowFarneback parameters (OpenCV's documented example values)
FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2,
             "flags": 0}
LUMA = (0.299, 0.587, 0.114)


def gray_u8(px: torch.Tensor) -> np.ndarray:
    """Pixels ``[N, C, H, W]`` (C = 1 or 3) -> uint8 grey ``[N, H, W]`` (ITU-R BT.601 luma)."""
    px = px.detach().float().cpu()
    if px.shape[1] == 3:
        px = (px * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1)
    else:
        px = px[:, 0]
    return px.round().clamp(0, 255).to(torch.uint8).numpy()


def flow(a_px: torch.Tensor, b_px: torch.Tensor) -> torch.Tensor:
    """Farneback flow from each frame of ``a`` to the same frame of ``b`` (``[N, C, H, W]``) -> ``[N, 2, H, W]``."""
    import cv2

    a, b = gray_u8(a_px), gray_u8(b_px)
    out = [cv2.calcOpticalFlowFarneback(x, y, None, **FARNEBACK) for x, y in zip(a, b)]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous().to(a_px.device)


def magnitude(f: torch.Tensor) -> torch.Tensor:
    """``[N, 2, H, W]`` -> ``[N, 1, H, W]`` flow length in pixels."""
    return f.pow(2).sum(1, keepdim=True).sqrt()


def warp(frames: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Backward warp: ``out(p) = frames(p + f(p))`` (bilinear, border pixels repeated outside)."""
    n, _, h, w = frames.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=frames.device),
                            torch.arange(w, dtype=torch.float32, device=frames.device), indexing="ij")
    gx = (xs + f[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + f[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(frames.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
