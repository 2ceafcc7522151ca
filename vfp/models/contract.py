"""The model contract: what vfp needs from a next-frame model, checked in one place.

* :class:`NextFrameModel`: ``n_input``, ``stride`` and
  ``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]`` in [-1, 1];
* :class:`GanGenerator`: the ``gan`` recipe's extra needs (per-scale predictions, a discriminator);
* :func:`check_context` and :func:`check_frame_size`: the one shape rule and its one message;
* :func:`rollout`: the autoregressive loop for a model that predicts one frame at a time.
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import torch
from torch import nn

__all__ = ["GanGenerator", "NextFrameModel", "check_context", "check_frame_size", "frame_size_problem",
           "rollout"]


@runtime_checkable
class NextFrameModel(Protocol):
    """What generic code calls. ``stride``: H and W must be multiples of it (1: any size)."""

    n_input: int
    stride: int

    def __call__(self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None) -> torch.Tensor:
        ...


@runtime_checkable
class GanGenerator(NextFrameModel, Protocol):
    """A generator for the ``gan`` recipe: predictions at every scale, coarse to fine, and its discriminator."""

    scales: Sequence[int]

    def predict_scales(self, context: torch.Tensor) -> list[torch.Tensor]:
        ...

    def scale_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        ...

    def make_discriminator(self, size: int, **kwargs) -> nn.Module:
        ...


def frame_size_problem(size: Sequence[int], stride: int, where: str, name: str) -> str | None:
    """The one frame-size rule: H and W multiples of the model's ``stride``. None when ``size`` (H, W)
    fits, else the one-line message naming ``where`` the size comes from (a params key, an option)."""
    stride = int(stride or 1)
    if all(int(s) % stride == 0 for s in size):
        return None
    fits = [max(stride, int(s) // stride * stride) for s in size]
    return f"{where} {list(size)}: {name} needs H and W divisible by its stride {stride} (e.g. {fits})"


def check_frame_size(size: Sequence[int], stride: int, where: str, name: str) -> None:
    """:func:`frame_size_problem` as a ValueError."""
    problem = frame_size_problem(size, stride, where, name)
    if problem:
        raise ValueError(problem)


def check_context(context: torch.Tensor, n_input: int, stride: int) -> None:
    """ValueError unless ``context`` is [B, T >= n_input, C, H, W] with H and W multiples of ``stride``."""
    if context.ndim != 5 or context.shape[1] < n_input:
        raise ValueError(f"context must be [B, T>={n_input}, C, H, W], got {tuple(context.shape)}")
    check_frame_size(tuple(context.shape[-2:]), stride, "context", "the model")


def rollout(step: Callable[[torch.Tensor], torch.Tensor], context: torch.Tensor, n_input: int, n_future: int,
            future: torch.Tensor | None = None) -> torch.Tensor:
    """``n_future`` frames [B, n_future, C, H, W], each ``step(last n_input frames [B, n_input, C, H, W])
    -> [B, C, H, W]``, fed back as input (autoregressive); with ``future`` (the true next frames,
    training) the true frame is fed instead (teacher forcing)."""
    seq = context[:, -n_input:]
    preds = []
    for k in range(n_future):
        preds.append(step(seq[:, -n_input:]))
        nxt = future[:, k] if future is not None else preds[-1]
        seq = torch.cat([seq, nxt[:, None]], dim=1)
    return torch.stack(preds, dim=1)
