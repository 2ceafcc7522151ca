"""Clip augmentation: one random transform drawn per clip and applied identically to every frame.

Horizontal flip, time reversal (the clip played backwards: still a plausible video) and a random
crop of ``[scale, 1]`` of each side, resized back to the clip size (a zoom in; motion scales with it).
Clips are ``[T, C, H, W]`` tensors; the RNG is passed in, so a draw is a pure function of the
caller's seed (see :class:`vfp.data.clips.ClipDataset`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ClipAugment:
    """``flip``/``reverse``: each with probability 1/2; ``scale < 1``: random crop of a side fraction
    in ``[scale, 1]`` at a random place, resized back (bilinear)."""

    flip: bool = True
    reverse: bool = True
    scale: float = 1.0

    def __post_init__(self):
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")

    @property
    def active(self) -> bool:
        return self.flip or self.reverse or self.scale < 1

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self.flip and rng.random() < 0.5:
            clip = clip.flip(-1)
        if self.reverse and rng.random() < 0.5:
            clip = clip.flip(0)
        if self.scale < 1:
            clip = crop_rescale(clip, float(rng.uniform(self.scale, 1.0)), float(rng.random()), float(rng.random()))
        return clip


def crop_rescale(clip: torch.Tensor, side: float, fy: float, fx: float) -> torch.Tensor:
    """Crop ``side`` of each dimension at relative position (``fy``, ``fx``) in [0, 1] and resize back."""
    h, w = clip.shape[-2:]
    ch, cw = max(1, round(h * side)), max(1, round(w * side))
    if (ch, cw) == (h, w):
        return clip
    y, x = round((h - ch) * fy), round((w - cw) * fx)
    crop = clip[..., y:y + ch, x:x + cw]
    return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False).clamp(-1, 1)


def from_train_config(train) -> ClipAugment | None:
    """The augmentation ``train.augment_*`` asks for, or None when all are off."""
    aug = ClipAugment(flip=train.augment_flip, reverse=train.augment_reverse, scale=train.augment_scale)
    return aug if aug.active else None
