"""The model contract: what vfp needs from a next-frame model, checked in one place.

* :class:`NextFrameModel`: ``n_input``, ``stride`` and
  ``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]`` in [-1, 1];
* :class:`GanGenerator`: the ``gan`` recipe's extra needs (per-scale predictions, a discriminator);
* :func:`check_context` and :func:`check_frame_size`: the one shape rule and its one message;
* :func:`rollout`: the autoregressive loop for a model that predicts one frame at a time;
* :func:`predict_any_size`: a model's prediction at any frame size (border-padded to its stride).
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["GanGenerator", "NextFrameModel", "check_context", "check_frame_size", "frame_size_problem",
           "pad_frames", "predict_any_size", "rollout"]


@runtime_checkable
class NextFrameModel(Protocol):
    """What generic code calls. ``stride``: H and W must be multiples of it (1: any size); generic code
    predicts at other sizes through :func:`predict_any_size`."""

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


def pad_frames(frames: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """``frames [B, T, C, H, W]`` with ``pad_h`` rows and ``pad_w`` columns added at the bottom and right,
    each a copy of the border pixel."""
    flat = F.pad(rearrange(frames, "b t c h w -> b (t c) h w"), (0, pad_w, 0, pad_h), mode="replicate")
    return rearrange(flat, "b (t c) h w -> b t c h w", t=frames.shape[1])


def predict_any_size(model: nn.Module, context: torch.Tensor, n_future: int) -> torch.Tensor:
    """``model(context, n_future)`` at any frame size: when H or W is not a multiple of the model's
    ``stride``, the context is padded by repeating its border (:func:`pad_frames`) and the padding is cut
    off the prediction. A model that declares ``any_size = True`` (the flow base, which pads only its net's
    input so its flow is the baseline's) is called as is."""
    h, w = context.shape[-2:]
    stride = 1 if getattr(model, "any_size", False) else int(getattr(model, "stride", 1) or 1)
    pad_h, pad_w = -h % stride, -w % stride
    if not (pad_h or pad_w):
        return model(context, n_future)
    return model(pad_frames(context, pad_h, pad_w), n_future)[..., :h, :w]
