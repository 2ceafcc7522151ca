"""Warp: next frame by moving pixels of the last frames along a predicted dense motion field.

The DVF / DMVFN family (Liu et al. 2017, Hu et al. 2023) in small: a U-Net-like CNN reads the
``n_input`` context frames and their differences ([B, n_input*C + (n_input-1)*C, H, W]), and its
decoder predicts a flow at every level (coarse to fine: each level's flow is upsampled x2, doubled,
and refined by the next, so large motion costs few parameters). The next frame is the last frame
warped by the finest flow (:func:`vfp.flow.warp`: ``grid_sample``, bilinear, border padding).
With ``blend`` the net also predicts a second flow for the frame before the last and a mask ``m`` in
[0, 1]: ``(1 - m) * warp(last, f1) + m * warp(prev, f2)`` (occlusions: pixels seen only there).

Starting point: every flow head and the mask are zero-initialised, so an untrained net is exactly
copy-last (zero motion, ``m = 0``). With ``prior: dis`` or ``farneback`` the net also reads the classical
optical flow of the last two frames (OpenCV, :mod:`vfp.flow`, no gradient; DIS with the ``medium`` preset)
and predicts a correction to it: untrained, its first step is exactly the ``flow`` baseline's with that
method (same flow, same warp; tested on real frames), so training starts from the stronger baseline
instead of copy-last. Later steps estimate the flow again on its own predictions (the baseline warps the
last real frame by ``k`` times the first flow): untrained, +0.15 to +0.21 dB over the baseline at t+2..t+4
on 20 real clips at 64x64. Still content stays still: the learned motion is scaled down to zero where
the context did not change (:func:`still_gate`); the prior is not, so that the start is the baseline.
(The generic ``base: flow`` of every model, :mod:`vfp.models.base`, equals the baseline at every step.)
Flows are in pixels at the input size. Multi-step: rolled out on its own predictions (on the true
frames when training with ``future``). ``stride = 2 ** (len(features) - 1)``.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vfp import flow as classical
from vfp.frames import clamp_model, to_pixels
from vfp.models.contract import check_context, rollout
from vfp.models.registry import register_model


def conv_block(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (stride) -> GroupNorm -> LeakyReLU -> 3x3 conv -> GroupNorm -> LeakyReLU."""
    def norm():
        return nn.GroupNorm(math.gcd(8, out_ch), out_ch)

    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False), norm(), nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), norm(), nn.LeakyReLU(0.1, inplace=True),
    )


def zero_conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def still_gate(frames: torch.Tensor, still: float, radius: int) -> torch.Tensor:
    """[B, 1, H, W] in [0, 1]: the largest change between consecutive context frames, averaged over a
    window of ``radius`` pixels, over ``still`` grey levels (0-255), capped at 1. Motion (flows and mask) is
    multiplied by it, so content that stood exactly still through the whole context is copied exactly (frozen and
    duplicated frames, fixed-camera backgrounds); ``still: 0`` turns the gate off."""
    change = (frames[:, 1:] - frames[:, :-1]).abs().amax(dim=(1, 2))[:, None] * 127.5
    if radius > 0:  # the mean over the window: a lone noisy pixel barely opens it, a moving edge does
        change = F.avg_pool2d(change, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
    return (change / still).clamp(max=1)


def flow_prior(frames: torch.Tensor, method: str = "farneback") -> torch.Tensor:
    """[B, 2, H, W]: the classical flow ``G`` from the last frame to the one before (``last(p) ~ prev(p + G(p))``),
    so ``warp(last, G)`` continues the motion one frame (the ``flow`` baseline's first step). No gradient."""
    with torch.no_grad():
        return classical.flow(to_pixels(frames[:, -1]), to_pixels(frames[:, -2]), method).to(frames.dtype)


PRIOR_SCALE = 4.0  # the prior flow (pixels) enters the net divided by this


@register_model("warp", recipe="supervised")
class WarpNet(nn.Module):
    """``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]``."""

    def __init__(self, n_input: int = 4, channels: int = 3, features: tuple[int, ...] = (16, 32, 64, 96),
                 blend: bool = True, max_flow: float = 0.0, still: float = 16.0, still_radius: int = 4,
                 prior: Literal["none", "farneback", "dis"] = "none"):
        super().__init__()
        features = tuple(features)
        if not features:
            raise ValueError("features must not be empty")
        if blend and n_input < 2:
            raise ValueError("blend needs n_input >= 2 (it warps the frame before the last too)")
        self.n_input, self.channels, self.blend, self.max_flow = n_input, channels, blend, max_flow
        self.still, self.still_radius, self.prior = still, still_radius, prior
        self.stride = 2 ** (len(features) - 1)
        in_ch = (2 * n_input - 1) * channels + (2 if prior != "none" else 0)
        self.down = nn.ModuleList(conv_block(i, o, stride=1 if k == 0 else 2)
                                  for k, (i, o) in enumerate(zip((in_ch, *features[:-1]), features)))
        pairs = list(zip(features[:-1], features[1:]))[::-1]  # (skip, deeper), deepest first
        self.up = nn.ModuleList(conv_block(d + s, s) for s, d in pairs)
        self.n_out = 5 if blend else 2  # flow(s) + mask
        self.heads = nn.ModuleList(zero_conv(c, self.n_out) for c in (features[-1], *[s for s, _ in pairs]))

    def motion(self, frames: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """frames [B, n_input, C, H, W] (+ prior flow [B, 2, H, W]) -> raw head output at full size
        [B, 2 or 5, H, W] (flows in pixels)."""
        diffs = frames[:, 1:] - frames[:, :-1]
        inputs = [rearrange(frames, "b t c h w -> b (t c) h w"), rearrange(diffs, "b t c h w -> b (t c) h w")]
        x = torch.cat(inputs + ([prior / PRIOR_SCALE] if prior is not None else []), dim=1)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        out = self.heads[0](x)
        for up, head, skip in zip(self.up, self.heads[1:], reversed(skips[:-1])):
            x = up(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
            coarse = F.interpolate(out, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            flows = coarse[:, : self.n_out - 1 if self.blend else 2] * 2  # pixel units double per level
            coarse = torch.cat([flows, coarse[:, flows.shape[1]:]], 1)
            out = coarse + head(x)
        return out

    def step(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, n_input, C, H, W] -> next frame [B, C, H, W]."""
        prior = flow_prior(frames, self.prior) if self.prior != "none" else None
        gate = still_gate(frames, self.still, self.still_radius) if self.still > 0 else None
        out = self.motion(frames, prior)
        if gate is not None:
            out = out * gate
        flow = out[:, :2] if prior is None else out[:, :2] + prior
        if self.max_flow > 0:
            flow = self.max_flow * torch.tanh(flow / self.max_flow)
        last = frames[:, -1]
        # exact: the last frame itself where the flow is 0 (grid_sample alone is off by ~1e-5, which a
        # still frame's 100 dB PSNR would notice)
        pred = classical.warp(last, flow)
        if self.blend:
            mask = out[:, 4:5].clamp(0, 1)  # exactly 0 at init (clamp passes gradients at the bounds)
            pred = pred + mask * (classical.warp(frames[:, -2], out[:, 2:4], exact=False) - pred)
        return clamp_model(pred)

    def forward(self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None) -> torch.Tensor:
        check_context(context, self.n_input, self.stride)
        return rollout(self.step, context, self.n_input, n_future, future if self.training else None)
