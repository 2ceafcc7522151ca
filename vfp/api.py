"""Use a trained model from Python, with no params.yaml or DVC::

    from vfp import load_model
    model = load_model("models/warp/model.pt")      # or load_model() for the pretrained model
    future = model.predict(frames, steps=4)          # frames: uint8 [T, H, W, C], numpy or torch
    nxt = model.predict_next(frames)                 # one step ahead for every frame that has a context

Frames are pixels (uint8, ``[T, H, W, C]``); the result has the input's type (numpy array or torch
tensor, on the input's device) and dtype uint8. The model reads every ``interval``-th frame (the
interval it was trained at, stored in the model file; ``interval=`` overrides it).
A fully convolutional model (one that declares ``fully_convolutional = True``, or has no
``nn.Linear`` layer) runs at the frames' own size: sides that are not multiples of its ``stride``
are padded by repeating the border and the padding is cut off again. Any other model takes frames of
exactly the size it was trained at (:attr:`Predictor.size`). ``vfp predict`` calls the same methods.
"""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from einops import rearrange
from torch import nn

from vfp.errors import VfpError
from vfp.frames import to_model, to_uint8
from vfp.modelio import load_trained
from vfp.models.contract import predict_any_size

__all__ = ["PRETRAINED", "Predictor", "load_model", "model_meta"]

PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "model.pt"


def model_meta(path: Path) -> dict[str, Any]:
    """The non-weight entries of a vfp model file (``model``, ``net``, ``size``, ``interval``, ...)."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    return {k: v for k, v in data.items() if k != "state_dict"} if isinstance(data, dict) else {}


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise VfpError("device cuda: no CUDA device here; use cpu (or auto)")
    return torch.device(name)


def load_model(path: str | Path | None = None, device: str = "cpu") -> "Predictor":
    """A :class:`Predictor` for the model file ``path`` (``None``: the pretrained model shipped with vfp)."""
    if path is None and not PRETRAINED.is_file():
        raise VfpError(f"{PRETRAINED}: the pretrained model is missing from this install; pass a model file "
                       f"(--checkpoint models/<model>/model.pt)")
    path = PRETRAINED if path is None else Path(path)
    name, net = load_trained(path)
    meta = model_meta(path)
    size = meta.get("size")
    size = (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) and len(size) == 2 else None
    interval = meta.get("interval")
    interval = int(interval) if isinstance(interval, int) and interval >= 1 else 1
    return Predictor(name, net, size=size, interval=interval, device=_device(device), path=path)


class Predictor:
    """A loaded model and how to feed it (see the module doc)."""

    def __init__(self, name: str, net: nn.Module, *, size: tuple[int, int] | None, interval: int,
                 device: torch.device, path: Path | None = None):
        self.name, self.path, self.device = name, path, device
        self.net = net.to(device).eval()
        self.size, self.interval = size, interval
        self.model_seconds = 0.0  # time spent in the model's forward (for frames-per-second figures)
        self.n_input = int(net.n_input)
        self.stride = int(getattr(net, "stride", 1) or 1)
        self.channels = int(getattr(net, "channels", 3))
        declared = getattr(net, "fully_convolutional", None)
        self.fully_convolutional = bool(declared) if declared is not None else \
            not any(isinstance(m, nn.Linear) for m in net.modules())

    def __repr__(self) -> str:
        return (f"Predictor({self.name}, n_input={self.n_input}, interval={self.interval}, "
                f"{'any size' if self.fully_convolutional else f'size={self.size}'}, device={self.device})")

    def span(self, interval: int | None = None) -> int:
        """Frames from the first context frame to the frame predicted next (``n_input * interval``)."""
        return self.n_input * (interval or self.interval)

    # ------------------------------------------------------------ tensors in model space
    def step(self, context: torch.Tensor, steps: int = 1) -> torch.Tensor:
        """``context [B, n_input, C, H, W]`` in [-1, 1] -> ``[B, steps, C, H, W]`` at the same H, W."""
        h, w = context.shape[-2:]
        if not self.fully_convolutional and self.size is not None and (h, w) != self.size:
            raise VfpError(f"{self.name} takes {self.size[0]}x{self.size[1]} frames only (got {h}x{w}); "
                           f"resize them first")
        x = context.to(self.device, torch.float32)
        started = time.perf_counter()
        with torch.no_grad():
            try:
                out = predict_any_size(self.net, x, steps)
            except ValueError as err:
                raise VfpError(f"{self.name} cannot predict {h}x{w} frames: {err}") from None
        self.model_seconds += time.perf_counter() - started
        return out

    # ------------------------------------------------------------ pixel frames (numpy or torch)
    def predict(self, frames, steps: int = 1, interval: int | None = None):
        """The ``steps`` frames after ``frames`` (uint8 [T, H, W, C]): uint8 [steps, H, W, C], same type."""
        if steps < 1:
            raise VfpError(f"steps must be >= 1, got {steps}")
        k = interval or self.interval
        pixels, back = _as_tensor(frames, self.channels)
        need = (self.n_input - 1) * k + 1
        if pixels.shape[0] < need:
            raise VfpError(f"{self.name} needs {self.n_input} context frames every {k} ({need} frames), "
                           f"got {pixels.shape[0]}")
        context = pixels[pixels.shape[0] - need::k]
        pred = self.step(to_model(rearrange(context, "t h w c -> 1 t c h w")), steps)[0]
        return back(to_uint8(rearrange(pred, "t c h w -> t h w c")))

    def predict_next(self, frames, interval: int | None = None, batch: int = 8):
        """One step ahead for every frame that has a full context: uint8 ``[T - n_input * interval, H, W, C]``,
        where result ``j`` predicts ``frames[n_input * interval + j]`` from the frames before it."""
        pixels, back = _as_tensor(frames, self.channels)
        preds = [p for _, p in self.iter_next(iter(pixels.cpu().numpy()), interval, batch) if p is not None]
        if not preds:
            raise VfpError(f"{self.name} needs more than {self.span(interval)} frames for a one-step prediction, "
                           f"got {pixels.shape[0]}")
        return back(torch.from_numpy(np.stack(preds)))

    def iter_next(self, frames: Iterable[np.ndarray], interval: int | None = None,
                  batch: int = 8) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """``(frame, its one-step prediction or None)`` for every uint8 ``[H, W, C]`` frame, in order;
        ``batch`` predictions at a time. Holds ``span + batch`` frames: memory flat in the video's length."""
        k = interval or self.interval
        span = self.span(k)
        recent: deque[np.ndarray] = deque(maxlen=span + batch)
        pending: list[np.ndarray] = []
        for index, frame in enumerate(frames):
            recent.append(frame)
            if index < span:
                yield frame, None
                continue
            pending.append(frame)
            if len(pending) == batch:
                yield from self._flush(recent, pending, k)
        yield from self._flush(recent, pending, k)

    def _flush(self, recent: deque, pending: list, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if not pending:
            return
        frames, n = list(recent), len(pending)
        first = len(frames) - n - self.span(k)  # the first context frame of pending[0]
        contexts = np.stack([np.stack(frames[first + j: first + j + self.span(k): k]) for j in range(n)])
        x = to_model(rearrange(torch.from_numpy(contexts), "b t h w c -> b t c h w"))
        preds = to_uint8(rearrange(self.step(x, 1)[:, 0], "b c h w -> b h w c")).cpu().numpy()
        yield from zip(list(pending), preds)
        pending.clear()


def _as_tensor(frames, channels: int):
    """uint8 ``[T, H, W, C]`` numpy/torch -> (CPU/any-device uint8 tensor, function back to the input's type)."""
    if isinstance(frames, np.ndarray):
        tensor, back = torch.from_numpy(np.ascontiguousarray(frames)), lambda t: t.cpu().numpy()
    elif isinstance(frames, torch.Tensor):
        device = frames.device
        tensor, back = frames, lambda t: t.to(device)
    else:
        raise VfpError(f"frames must be a numpy array or a torch tensor, got {type(frames).__name__}")
    if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[-1] != channels:
        raise VfpError(f"frames must be uint8 pixels [T, H, W, {channels}], got {tensor.dtype} "
                       f"{list(tensor.shape)}")
    return tensor, back
