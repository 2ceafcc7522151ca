"""Copy-last baseline: the prediction is the last context frame, repeated."""
from __future__ import annotations

import torch
from torch import nn

from vfp.models.registry import register_model


@register_model("copy_last", recipe="none")
class CopyLast(nn.Module):
    """``forward(context [B, T, C, H, W], n_future) -> [B, n_future, C, H, W]``."""

    def __init__(self, n_input: int = 1):
        super().__init__()
        self.n_input = n_input
        self.stride = 1

    def forward(
        self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None
    ) -> torch.Tensor:
        last = context[:, -1:]
        return last.expand(-1, n_future, -1, -1, -1).clone()
