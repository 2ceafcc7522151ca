"""Classical dense optical flow (OpenCV Farneback or DIS: no weights, every platform), backward warping
and the constant-velocity extrapolation that the ``flow`` baseline and the flow base of models share.

Convention: ``flow(a, b)`` returns ``F [N, 2, H, W]`` (x, y in pixels) with ``a(p) ~ b(p + F(p))``,
i.e. where each pixel of ``a`` is found in ``b``. Flow inputs are pixel values in [0, 255].

Methods (``flow.method`` in params.yaml): ``farneback`` (``cv2.calcOpticalFlowFarneback`` with OpenCV's
documented example parameters) and ``dis`` (``cv2.DISOpticalFlow``, Kroeger et al. 2016, with a preset:
``ultrafast`` | ``fast`` | ``medium``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vfp.frames import to_pixels

__all__ = ["FARNEBACK", "METHODS", "DIS_PRESETS", "gray_u8", "flow", "warp", "magnitude", "extrapolate",
           "settings_key"]

# cv2.calcOpticalFlowFarneback parameters (OpenCV's documented example values)
FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2,
             "flags": 0}
METHODS = ("farneback", "dis")
DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}  # cv2.DISOPTICAL_FLOW_PRESET_*
DIS_MIN_SIDE = 12  # cv2.DISOpticalFlow refuses frames with both sides below this: smaller ones are padded
LUMA = (0.299, 0.587, 0.114)


def gray_u8(px: torch.Tensor) -> np.ndarray:
    """Pixels ``[N, C, H, W]`` (C = 1 or 3) -> uint8 grey ``[N, H, W]`` (ITU-R BT.601 luma)."""
    px = px.detach().float().cpu()
    if px.shape[1] == 3:
        px = (px * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1)
    else:
        px = px[:, 0]
    return px.round().clamp(0, 255).to(torch.uint8).numpy()


def _dis(a: np.ndarray, b: np.ndarray, preset: str) -> list[np.ndarray]:
    import cv2

    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    h, w = a.shape[1:]
    pad_h, pad_w = (max(0, DIS_MIN_SIDE - h), max(0, DIS_MIN_SIDE - w)) if max(h, w) < DIS_MIN_SIDE else (0, 0)
    out = []
    for x, y in zip(a, b):
        if pad_h or pad_w:
            x, y = (cv2.copyMakeBorder(z, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE) for z in (x, y))
        out.append(dis.calc(x, y, None)[:h, :w])
    return out


def flow(a_px: torch.Tensor, b_px: torch.Tensor, method: str = "farneback", preset: str = "medium") -> torch.Tensor:
    """Flow from each frame of ``a`` to the same frame of ``b`` (``[N, C, H, W]`` pixels) -> ``[N, 2, H, W]``.
    ``preset`` is DIS's (Farneback has one parameter set, :data:`FARNEBACK`)."""
    import cv2

    a, b = gray_u8(a_px), gray_u8(b_px)
    if method == "dis":
        out = _dis(a, b, preset)
    elif method == "farneback":
        out = [cv2.calcOpticalFlowFarneback(x, y, None, **FARNEBACK) for x, y in zip(a, b)]
    else:
        raise ValueError(f"flow method must be one of {', '.join(METHODS)}, got {method!r}")
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous().to(a_px.device)


def settings_key(method: str, preset: str) -> dict:
    """Everything a flow depends on (for cache keys): the method and its parameters."""
    return {"method": method, **({"preset": preset} if method == "dis" else {"farneback": FARNEBACK})}


def magnitude(f: torch.Tensor) -> torch.Tensor:
    """``[N, 2, H, W]`` -> ``[N, 1, H, W]`` flow length in pixels."""
    return f.pow(2).sum(1, keepdim=True).sqrt()


def _grid_sample(frames: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    n, _, h, w = frames.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=f.dtype, device=f.device),
                            torch.arange(w, dtype=f.dtype, device=f.device), indexing="ij")
    gx = (xs + f[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + f[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(frames, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="border",
                         align_corners=True)


def warp(frames: torch.Tensor, f: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """Backward warp ``[N, C, H, W]`` by ``f [N, 2, H, W]`` (pixels, x first): ``out(p) = frames(p + f(p))``
    (bilinear, border pixels repeated outside). ``exact``: exact where ``f`` is 0, computed as ``frames +
    (sample at p + f - sample at p)``, since ``grid_sample`` alone is off by ~1e-5 at the pixel centres;
    ``exact=False``: ``grid_sample`` alone (one sampling, e.g. a term that is blended in)."""
    frames = frames.float() if not torch.is_floating_point(frames) else frames
    f = f.to(frames.dtype)
    if not exact:
        return _grid_sample(frames, f)
    return frames + (_grid_sample(frames, f) - _grid_sample(frames, torch.zeros_like(f)))


def extrapolate(context: torch.Tensor, horizon: int, method: str = "farneback",
                preset: str = "medium") -> torch.Tensor:
    """Constant-velocity extrapolation of the last two frames of ``context [B, T, C, H, W]`` (model space,
    [-1, 1]) -> ``[B, horizon, C, H, W]``. Flow ``G`` from the last frame to the one before
    (``last(p) ~ prev(p + G(p))``), so the motion at ``p`` is ``-G(p)`` and step ``k`` is the last frame
    warped backward by ``k G``: ``pred_k(p) = last(p + k G(p))``. One context frame: copy-last."""
    last = context[:, -1]
    if context.shape[1] < 2:
        return last.unsqueeze(1).expand(-1, horizon, -1, -1, -1).clone()
    with torch.no_grad():
        g = flow(to_pixels(last), to_pixels(context[:, -2]), method, preset).to(last.dtype)
    preds = [warp(last, k * g).clamp(-1, 1) for k in range(1, horizon + 1)]
    return torch.stack(preds, dim=1)
