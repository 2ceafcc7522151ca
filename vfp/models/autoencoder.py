"""U-Net next-frame predictor (Ronneberger et al., 2015, used frame-to-frame).

Input: the last ``n_input`` frames stacked on channels, [B, n_input*C, H, W].
Encoder level i: two 3x3 convs to ``features[i]`` channels (GroupNorm + ReLU),
2x2 max-pool between levels. Decoder level i (reversed): 2x2 ConvTranspose from
``features[i+1]`` to ``features[i]``, concat with the encoder skip (``features[i]``),
two 3x3 convs. 1x1 head to C channels.
Output: ``(last + head).clamp(-1, 1)`` when ``residual`` (head zero-initialised:
exactly copy-last at init), else ``tanh(head)``. Multi-step: rolled out on its own
predictions (on the true frames when training with ``future``).
``stride = 2 ** (len(features) - 1)``.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from vfp.frames import clamp_model
from vfp.models.contract import check_context, rollout
from vfp.models.registry import register_model


class DoubleConv(nn.Sequential):
    """(3x3 conv -> GroupNorm -> ReLU) x 2; ``norm=False`` drops the GroupNorm."""

    def __init__(self, in_ch: int, out_ch: int, norm: bool = True):
        layers: list[nn.Module] = []
        for c_in in (in_ch, out_ch):
            layers.append(nn.Conv2d(c_in, out_ch, 3, padding=1, bias=not norm))
            if norm:
                layers.append(nn.GroupNorm(math.gcd(8, out_ch), out_ch))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.in_ch, self.out_ch = in_ch, out_ch


@register_model("autoencoder", recipe="supervised")
class UNetAutoencoder(nn.Module):
    """``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]``."""

    def __init__(
        self,
        n_input: int = 1,
        channels: int = 3,
        features: tuple[int, ...] = (32, 64, 128, 256, 512),
        residual: bool = True,
        norm: bool = True,
    ):
        super().__init__()
        features = tuple(features)
        if not features:
            raise ValueError("features must not be empty")
        self.n_input, self.residual = n_input, residual
        self.stride = 2 ** (len(features) - 1)
        ins = (n_input * channels, *features[:-1])
        self.down = nn.ModuleList(DoubleConv(i, o, norm) for i, o in zip(ins, features))
        self.pool = nn.MaxPool2d(2)
        pairs = list(zip(features[:-1], features[1:]))[::-1]  # (skip, deeper), deepest first
        self.up = nn.ModuleList(nn.ConvTranspose2d(d, s, 2, stride=2) for s, d in pairs)
        self.dec = nn.ModuleList(DoubleConv(2 * s, s, norm) for s, _ in pairs)
        self.head = nn.Conv2d(features[0], channels, 1)
        if residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def step(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, n_input, C, H, W] -> next frame [B, C, H, W]."""
        x = rearrange(frames, "b t c h w -> b (t c) h w")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, block, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            x = block(torch.cat([up(x), skip], dim=1))
        if self.residual:  # stays in [-1, 1] because of the clamp
            return clamp_model(frames[:, -1] + self.head(x))
        return torch.tanh(self.head(x))

    def forward(
        self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_context(context, self.n_input, self.stride)
        return rollout(self.step, context, self.n_input, n_future, future if self.training else None)
