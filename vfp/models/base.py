"""The base predictor a learned model corrects: ``base: copy_last | flow`` in every model's section.

``copy_last`` is the model as registered (a residual model's untrained output is the last frame).
``flow`` wraps it in :class:`FlowBase`: at every step the model reads its ``n_input`` frames followed by
one more, the constant-velocity flow extrapolation (:func:`vfp.flow.extrapolate`, the ``flow``
baseline's prediction for that step), so the frame a residual model adds its output to is the flow
prediction and the net sees both the frames and the prediction it corrects. The wrapped model is built
with ``n_input + 1`` (its last input frame is the base); nothing here knows which model it wraps.

Untrained, a residual model on the flow base therefore predicts exactly the ``flow`` baseline at every
step (tested against it on real frames): the base of step ``k`` is the baseline's ``k``-th frame,
extrapolated from the last two real context frames, also when the model rolls out on its own
predictions. The base needs two context frames: ``n_input`` is at least 2. It runs at any frame size:
the flow is computed on the frames as given and only the net's input is padded to the net's stride.

``margin`` (training only, :func:`set_base_margin`): the training window carries ``margin`` more pixels on
every side; the flow is computed on the whole window and the net runs on (and predicts) the window without
that border, so the base it learns to correct is as good as the full frame's at test.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from vfp import flow as fl
from vfp.frames import inner
from vfp.models.contract import predict_any_size
from vfp.models.registry import build_model, get_spec
from vfp.schema import as_kwargs

__all__ = ["BASES", "FlowBase", "base_meta", "build_predictor", "predictor_from_config", "set_base_margin"]

BASES = ("copy_last", "flow")


class FlowBase(nn.Module):
    """``forward(context [B, T, C, H, W], n_future, future=None) -> [B, n_future, C, H, W]``: ``net``
    (built with ``n_input + 1`` inputs) corrects the flow extrapolation, one step at a time.

    Training with ``future``: teacher forcing; with probability ``sampling_ratio`` (per clip and step,
    the wrapped model's when it has one) a step reads the model's own prediction instead."""

    any_size = True  # pads only its net's input (:func:`vfp.models.contract.predict_any_size`)

    def __init__(self, net: nn.Module, n_input: int, method: str = "dis", preset: str = "medium"):
        super().__init__()
        if n_input < 2:
            raise ValueError(f"base flow needs n_input >= 2 (the flow of the last two frames), got {n_input}")
        if int(net.n_input) != n_input + 1:
            raise ValueError(f"the corrected model must read n_input + 1 = {n_input + 1} frames, "
                             f"it reads {net.n_input}")
        self.net, self.n_input, self.method, self.preset = net, n_input, method, preset
        self.margin = 0  # training windows' border that only the flow reads (:func:`set_base_margin`)
        self.stride = int(getattr(net, "stride", 1) or 1)

    def __getattr__(self, name: str) -> Any:
        """Attributes the wrapper lacks are the wrapped model's (``channels``, ``scales``, ...)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "net":
                raise
            return getattr(super().__getattr__("net"), name)

    def bases(self, context: torch.Tensor, n_future: int) -> torch.Tensor:
        """``[B, n_future, C, H, W]``: the flow baseline's prediction of each step (no gradient)."""
        with torch.no_grad():
            return fl.extrapolate(context.detach(), n_future, self.method, self.preset)

    def _inputs(self, seq: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return torch.cat([seq[:, -self.n_input:], base[:, None].to(seq.dtype)], dim=1)

    def predict_scales(self, context: torch.Tensor) -> list[torch.Tensor]:
        """The wrapped multi-scale generator's outputs for the next frame (the ``gan`` recipe's call)."""
        base = self.bases(context[:, -self.n_input:], 1)[:, 0]
        margin = self.margin if self.training else 0
        return self.net.predict_scales(inner(self._inputs(context, base), margin))

    def make_discriminator(self, size: int, **kwargs) -> nn.Module:
        """The wrapped generator's discriminator, conditioned (when it is) on the ``n_input`` real frames."""
        return self.net.make_discriminator(size, n_input=self.n_input, **kwargs)

    def _next(self, pred: torch.Tensor, true: torch.Tensor | None) -> torch.Tensor:
        ratio = float(getattr(self, "sampling_ratio", 0.0))
        if true is None or ratio >= 1:
            return pred
        if ratio <= 0:
            return true
        own = torch.rand(pred.shape[0], device=pred.device) < ratio
        return torch.where(own.view(-1, 1, 1, 1), pred, true)

    def forward(self, context: torch.Tensor, n_future: int, future: torch.Tensor | None = None) -> torch.Tensor:
        if context.ndim != 5 or context.shape[1] < self.n_input:
            raise ValueError(f"context must be [B, T>={self.n_input}, C, H, W], got {tuple(context.shape)}")
        teacher = self.training and future is not None
        seq = context[:, -self.n_input:]
        bases = self.bases(seq, n_future)
        if teacher and self.margin:  # the flow read the whole window; the net sees its inside
            seq, bases, future = (inner(x, self.margin) for x in (seq, bases, future))
        preds = []
        for k in range(n_future):
            preds.append(predict_any_size(self.net, self._inputs(seq, bases[:, k]), 1)[:, 0])
            nxt = self._next(preds[-1], future[:, k] if teacher else None)
            seq = torch.cat([seq[:, 1:], nxt[:, None]], dim=1)
        return torch.stack(preds, dim=1)


def build_predictor(name: str, net: Mapping[str, Any], base: str | None = "copy_last",
                    flow: Mapping[str, str] | None = None) -> nn.Module:
    """The model ``name`` built from its ``net`` keywords on ``base`` (None: ``copy_last``; ``flow``:
    ``{method, preset}``)."""
    if base in (None, "copy_last"):
        return build_model(name, **net)
    if base != "flow":
        raise ValueError(f"base must be one of {', '.join(BASES)}, got {base!r}")
    kwargs = {**as_kwargs(get_spec(name).section().net), **net}
    if not isinstance(kwargs.get("n_input"), int):
        raise ValueError(f"base flow needs a model whose net has n_input ({name}'s has none)")
    n_input = max(2, kwargs["n_input"])
    flow = dict(flow or {})
    return FlowBase(build_model(name, **{**net, "n_input": n_input + 1}), n_input,
                    flow.get("method", "dis"), flow.get("preset", "medium"))


def predictor_from_config(cfg: Any, name: str | None = None) -> nn.Module:
    """The model ``name`` (default ``cfg.model``) as its params section and ``flow:`` describe it."""
    name = name or cfg.model
    section = cfg.model_section(name)
    return build_predictor(name, as_kwargs(section.net), getattr(section, "base", "copy_last"),
                           {"method": cfg.flow.method, "preset": cfg.flow.preset})


def set_base_margin(model: nn.Module, margin: int) -> int:
    """Give ``model`` a training-window border of ``margin`` pixels that only its flow base reads; returns the
    border its training windows must carry: ``margin`` on the flow base, 0 for any other model."""
    if not isinstance(model, FlowBase):
        return 0
    model.margin = int(margin)
    return model.margin


def base_meta(model: nn.Module) -> dict[str, Any]:
    """What a model file records to rebuild ``model``'s base: ``{"base": ..., "flow": {...}}``."""
    if isinstance(model, FlowBase):
        return {"base": "flow", "flow": {"method": model.method, "preset": model.preset}}
    return {"base": "copy_last"}
