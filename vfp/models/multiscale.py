"""Multi-scale GAN for next-frame prediction (Mathieu, Couprie & LeCun, ICLR 2016).

Generator: stage k works at ``H * scales[k] / scales[-1]`` (so a generator built for
64x64 runs on any frame size divisible by ``stride``). Its input is the last
``n_input`` frames stacked on channels and area-resized to that scale, concatenated
with the bilinearly upsampled prediction of stage k-1 (stage 0 gets the resized
frames only). Each stage predicts a residual on the upsampled previous prediction
(stage 0: on the downscaled last frame); its last conv is zero-initialised. At init
the finest output is therefore the last frame seen through the coarsest scale (a
blurred copy-last); ``residual_base="last_frame"`` instead adds every stage's residual
to the last frame resized to that scale, so an untrained generator is exactly copy-last.

Discriminator: one net per scale, convs (valid padding, ReLU) -> 2x2 max-pool ->
flatten -> FC layers -> one logit. The FC input size is fixed by ``size``, the
finest-scale size it is trained at (``train.crop`` when set, else the frame size); a conv
whose kernel is larger than its input at that size (e.g. 3x3 on the 2x2 coarsest scale of
a 32x32 crop) is zero-padded instead, so every crop the generator accepts has a D.

Study sizes (Mathieu et al., table for the 4-scale models; scales 4, 8, 16, 32 there):
    G features ((128, 256, 128), (128, 256, 128), (128, 256, 512, 256, 128),
                (128, 256, 512, 256, 128))
    G kernels  ((3, 3, 3, 3), (5, 3, 3, 5), (5, 3, 3, 3, 3, 5), (7, 5, 5, 5, 5, 7))
    D conv_features ((64,), (64, 128, 128), (128, 256, 256), (128, 256, 512, 128))
    D conv_kernels  ((3,), (3, 3, 3), (5, 5, 5), (7, 7, 5, 5))
    D fc ((512, 256, 1), (1024, 512, 1), (1024, 512, 1), (1024, 512, 1))
At 64x64 the finest D's first FC alone then has ~63M weights; the defaults here are
small enough to train in minutes on a CPU.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vfp.frames import clamp_model, resize
from vfp.models.contract import check_context, rollout
from vfp.models.registry import register_model
from vfp.models.sections import GanSection, net_schema


def _check_scales(scales: Sequence[int]) -> tuple[int, ...]:
    scales = tuple(int(s) for s in scales)
    if not scales or any(a >= b for a, b in zip(scales[:-1], scales[1:])) or scales[0] < 1:
        raise ValueError(f"scales must be strictly increasing, got {list(scales)}")
    return scales


def _per_stage(value, n: int, name: str) -> tuple:
    if len(value) != n:
        raise ValueError(f"{name} needs one entry per scale ({n}), got {len(value)}")
    return tuple(value)


class MultiScaleGenerator(nn.Module):
    """Coarse-to-fine generator.

    ``predict_scales(context [B, T, C, H, W]) -> [[B, C, h_k, w_k] for each scale]``;
    ``forward(context, n_future, future=None) -> [B, n_future, C, H, W]`` (finest scale).
    ``kernels[k]`` is one int for every conv of stage k or one per conv
    (``len(features[k]) + 1``). ``stride`` is the smallest d such that H % d == 0 makes
    every ``H * scales[k] / scales[-1]`` an integer (16 for the default scales).
    """

    def __init__(
        self,
        n_input: int = 4,
        channels: int = 3,
        scales: Sequence[int] = (4, 16, 32, 64),
        features: Sequence[Sequence[int]] = ((32, 64, 32),) * 4,
        kernels: Sequence[int | Sequence[int]] = (3, 3, 5, 5),
        residual: bool = True,
        residual_base: str = "previous",
    ):
        super().__init__()
        if residual_base not in ("previous", "last_frame"):
            raise ValueError(f"residual_base must be 'previous' or 'last_frame', got {residual_base!r}")
        self.residual_base = residual_base
        self.scales = _check_scales(scales)
        n = len(self.scales)
        features = _per_stage(features, n, "features")
        kernels = _per_stage(kernels, n, "kernels")
        self.n_input, self.channels, self.residual = n_input, channels, residual
        top = self.scales[-1]
        self.stride = math.lcm(*(top // math.gcd(top, s) for s in self.scales))

        self.stages = nn.ModuleList()
        for k, (feats, ks) in enumerate(zip(features, kernels)):
            ks = (ks,) * (len(feats) + 1) if isinstance(ks, int) else tuple(ks)
            if len(ks) != len(feats) + 1:
                raise ValueError(f"kernels[{k}] needs {len(feats) + 1} entries, got {len(ks)}")
            c_in = n_input * channels + (channels if k > 0 else 0)
            layers: list[nn.Module] = []
            for c_out, kk in zip((*feats, channels), ks):
                layers += [nn.Conv2d(c_in, c_out, kk, padding=kk // 2), nn.ReLU()]
                c_in = c_out
            layers.pop()  # no ReLU after the output conv
            if residual:
                nn.init.zeros_(layers[-1].weight)
                nn.init.zeros_(layers[-1].bias)
            self.stages.append(nn.Sequential(*layers))

    def make_discriminator(self, size: int, n_input: int | None = None, **kwargs) -> "MultiScaleDiscriminator":
        """The discriminator that goes with this generator, for ``size`` x ``size`` finest-scale frames;
        ``n_input``: context frames a conditional one reads (default: the generator's)."""
        return MultiScaleDiscriminator(channels=self.channels, n_input=n_input or self.n_input,
                                       scales=list(self.scales), size=size, **kwargs)

    def scale_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        """Run-time (h_k, w_k) of every stage for frames of size h x w."""
        if h % self.stride or w % self.stride:
            raise ValueError(f"H and W must be divisible by {self.stride}, got {(h, w)}")
        top = self.scales[-1]
        return [(h * s // top, w * s // top) for s in self.scales]

    def predict_scales(self, context: torch.Tensor) -> list[torch.Tensor]:
        check_context(context, self.n_input, self.stride)
        frames = context[:, -self.n_input :]
        stacked = rearrange(frames, "b t c h w -> b (t c) h w")
        last = frames[:, -1]
        preds: list[torch.Tensor] = []
        for k, (stage, hw) in enumerate(zip(self.stages, self.scale_sizes(*last.shape[-2:]))):
            x = resize(stacked, hw)
            base = resize(last, hw)
            if k > 0:
                prev = F.interpolate(preds[-1], size=hw, mode="bilinear", align_corners=False)
                x = torch.cat([x, prev], dim=1)
                if self.residual_base == "previous":
                    base = prev
            if self.residual:  # stays in [-1, 1] because of the clamp
                preds.append(clamp_model(base + stage(x)))
            else:
                preds.append(torch.tanh(stage(x)))
        return preds

    def forward(
        self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None
    ) -> torch.Tensor:
        return rollout(lambda frames: self.predict_scales(frames)[-1], context, self.n_input, n_future,
                       future if self.training else None)


class MultiScaleDiscriminator(nn.Module):
    """``forward(frames_per_scale [[B, C, h_k, w_k]], context=None) -> logits [B, n_scales]``.

    Scale k's net is built for ``size * scales[k] / scales[-1]`` square inputs; other
    sizes fail in the FC layer. ``conditional``: each net also sees the last
    ``n_input`` context frames ([B, T, C, H, W]) resized to its scale, on channels.
    ``fc[k]`` lists the FC widths including the final 1.
    """

    def __init__(
        self,
        channels: int = 3,
        n_input: int = 4,
        scales: Sequence[int] = (4, 16, 32, 64),
        size: int = 64,
        conv_features: Sequence[Sequence[int]] = ((8,), (8, 16), (8, 16), (8, 16, 16)),
        conv_kernels: Sequence[Sequence[int]] = ((3,), (3, 3), (3, 3), (5, 5, 5)),
        fc: Sequence[Sequence[int]] = ((32, 1), (32, 1), (32, 1), (32, 1)),
        conditional: bool = False,
    ):
        super().__init__()
        self.scales = _check_scales(scales)
        n = len(self.scales)
        conv_features = _per_stage(conv_features, n, "conv_features")
        conv_kernels = _per_stage(conv_kernels, n, "conv_kernels")
        fc = _per_stage(fc, n, "fc")
        if size * self.scales[0] % self.scales[-1]:
            raise ValueError(f"size {size} gives a non-integer coarsest scale")
        self.n_input, self.conditional = n_input, conditional
        self.sizes = [size * s // self.scales[-1] for s in self.scales]
        c_in = channels * (n_input + 1 if conditional else 1)

        self.nets = nn.ModuleList()
        for k, (feats, ks, widths, s) in enumerate(zip(conv_features, conv_kernels, fc, self.sizes)):
            if len(ks) != len(feats):
                raise ValueError(f"conv_kernels[{k}] needs {len(feats)} entries, got {len(ks)}")
            if not widths or widths[-1] != 1:
                raise ValueError(f"fc[{k}] must end with 1 (the logit), got {list(widths)}")
            layers: list[nn.Module] = []
            c, side = c_in, s
            for c_out, kk in zip(feats, ks):
                pad = 0 if kk <= side else kk // 2  # a conv larger than its input is zero-padded ("same")
                layers += [nn.Conv2d(c, c_out, kk, padding=pad), nn.ReLU()]
                c, side = c_out, side + 2 * pad - kk + 1
            layers += [nn.MaxPool2d(2, ceil_mode=True), nn.Flatten()]
            with torch.no_grad():
                flat = nn.Sequential(*layers)(torch.zeros(1, c_in, s, s)).shape[1]
            for w_in, w_out in zip((flat, *widths[:-1]), widths):
                layers += [nn.Linear(w_in, w_out), nn.ReLU()]
            layers.pop()  # raw logit
            self.nets.append(nn.Sequential(*layers))

    def forward(
        self, frames_per_scale: Sequence[torch.Tensor], context: torch.Tensor | None = None
    ) -> torch.Tensor:
        if len(frames_per_scale) != len(self.nets):
            raise ValueError(f"expected {len(self.nets)} scales, got {len(frames_per_scale)}")
        if self.conditional and context is None:
            raise ValueError("a conditional discriminator needs the context")
        if self.conditional:
            stacked = rearrange(context[:, -self.n_input :], "b t c h w -> b (t c) h w")
        logits = []
        for net, x in zip(self.nets, frames_per_scale):
            if self.conditional:
                x = torch.cat([resize(stacked, tuple(x.shape[-2:])), x], dim=1)
            logits.append(net(x))
        return torch.cat(logits, dim=1)


GeneratorNet = net_schema(MultiScaleGenerator)
DiscriminatorNet = net_schema(MultiScaleDiscriminator, exclude=("channels", "n_input", "scales", "size"))


@dataclass(frozen=True)
class MultiScaleGanSection(GanSection):
    """``multiscale_gan: {lr, n_output, net, discriminator, lr_d, loss, schedule}``; ``net`` and
    ``discriminator`` take the constructors' keywords (their defaults live in the constructors)."""

    net: GeneratorNet = field(default_factory=GeneratorNet)
    discriminator: DiscriminatorNet = field(default_factory=DiscriminatorNet)


# registered here, below the discriminator its section describes
register_model("multiscale_gan", recipe="gan", params=MultiScaleGanSection)(MultiScaleGenerator)
