"""``vfp export model.pt --format onnx|torchscript``: a next-frame model that runs without vfp.

The exported graph maps ``context`` float32 ``[1, n_input, C, H, W]`` in [-1, 1] (the last ``n_input``
frames, every ``interval``; pixels ``p`` as ``p / 127.5 - 1``) to ``next`` ``[1, C, H, W]`` in [-1, 1].
The shape is fixed at export (``size``; default the size stored in the model file): export again for
another size. ONNX uses opset 17 (``grid_sample`` needs >= 16) through PyTorch's TorchScript-based
exporter; TorchScript is ``torch.jit.trace``.

A model on ``base: flow`` (:class:`vfp.models.base.FlowBase`) corrects the flow baseline's prediction,
which OpenCV computes: its graph is the correcting net alone, and ``context`` carries ``n_input + 1``
frames: the last ``n_input`` frames, then the flow baseline's next frame (:func:`vfp.flow.extrapolate`
with the ``flow`` method and preset stored in the model file), computed by the caller.

Every export is checked before it is kept: the file is run (onnxruntime, or ``torch.jit.load``) on a
second, different context and must give the PyTorch model's next frame within ``TOLERANCE``. A model
whose forward leaves PyTorch (NumPy or OpenCV on its tensors, e.g. a classical-flow input) cannot be
recorded in a graph: it is refused with one line saying so, as is any export that does not match.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vfp.api import load_model
from vfp.errors import VfpError
from vfp.fileio import atomic_write_bytes
from vfp.models.base import FlowBase

__all__ = ["FORMATS", "OPSET", "TOLERANCE", "ExportResult", "NextFrame", "export_model"]

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 17
TOLERANCE = 1e-4  # max abs difference in [-1, 1] between the exported and the PyTorch next frame
_LEAVES_TORCH = ("to a NumPy array", "torch.from_numpy")  # the tracer's warnings when a forward leaves torch


@dataclass(frozen=True)
class ExportResult:
    out: Path
    fmt: str
    model: str
    input_shape: tuple[int, ...]
    max_abs_diff: float
    inputs: str  # what the frames of ``context`` are


class NextFrame(nn.Module):
    """``context [B, n_input, C, H, W] -> next frame [B, C, H, W]`` (the model's first predicted step)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.net(context, 1)[:, 0]


def _contexts(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two different smooth contexts in [-1, 1]: one to trace with, one to check the file on."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand((2, shape[0], shape[1], shape[2], max(1, shape[3] // 8), max(1, shape[4] // 8)),
                        generator=gen)
    smooth = nn.functional.interpolate(coarse.flatten(0, 3)[:, None], size=shape[3:], mode="bilinear",
                                       align_corners=False).view(2, *shape)
    return smooth[0] * 2 - 1, smooth[1] * 2 - 1


def _trace(fmt: str, module: nn.Module, example: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    if fmt == "onnx":
        torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=OPSET,
                          input_names=["context"], output_names=["next"])
    else:
        torch.jit.save(torch.jit.trace(module, (example,), check_trace=False), buf)
    return buf.getvalue()


def _run(fmt: str, data: bytes, context: torch.Tensor) -> np.ndarray:
    if fmt == "torchscript":
        with torch.no_grad():
            return torch.jit.load(io.BytesIO(data)).eval()(context).numpy()
    try:
        import onnxruntime as ort  # optional dependency: pip install 'vfp[export]'
    except ImportError:
        raise VfpError("--format onnx needs onnxruntime to check the file: pip install 'vfp[export]'") from None
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {"context": context.numpy()})[0]


def export_model(checkpoint: str | Path | None, out: str | Path, fmt: str = "onnx",
                 size: tuple[int, int] | None = None) -> ExportResult:
    """Export ``checkpoint`` (None: the pretrained model) to ``out`` (see the module doc)."""
    if fmt not in FORMATS:
        raise VfpError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    predictor = load_model(checkpoint)
    size = tuple(size) if size else (predictor.size or (64, 64))
    if any(s % predictor.stride for s in size):
        raise VfpError(f"--size {list(size)}: {predictor.name} needs H and W divisible by {predictor.stride}")
    net, n_frames = predictor.net, predictor.n_input
    inputs = f"the last {n_frames} frames"
    if isinstance(net, FlowBase):  # the graph corrects a base the caller computes with OpenCV
        net, n_frames = net.net, n_frames + 1
        inputs += f", then the flow baseline's next frame ({predictor.net.method} {predictor.net.preset})"
    module = NextFrame(net).eval()
    shape = (1, n_frames, predictor.channels, *size)
    example, check = _contexts(shape)
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        try:
            data = _trace(fmt, module, example)
        except Exception as err:  # noqa: BLE001 - the exporter's own reason, in one line
            raise VfpError(f"{predictor.name} cannot be exported to {fmt}: "
                           f"{str(err).strip().splitlines()[0][:160]}") from None
    left = [str(w.message) for w in caught if any(s in str(w.message) for s in _LEAVES_TORCH)]
    if left:
        raise VfpError(f"{predictor.name} cannot be exported to {fmt}: its forward computes outside PyTorch "
                       f"(NumPy/OpenCV on its tensors), which a traced graph records as constants")
    with torch.no_grad():
        want = module(check).numpy()
    diff = float(np.abs(_run(fmt, data, check) - want).max())
    if not diff <= TOLERANCE:
        raise VfpError(f"{predictor.name} cannot be exported to {fmt}: the exported file's next frame differs "
                       f"from PyTorch's by {diff:.2g} (> {TOLERANCE:g})")
    atomic_write_bytes(Path(out), data)
    return ExportResult(Path(out), fmt, predictor.name, shape, diff, inputs)
