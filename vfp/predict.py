"""Continue any video with a trained model: ``vfp predict VIDEO --checkpoint model.pt --steps N --out OUT.gif``.

GIF naming (the study's): ``--out DIR/NAME.gif`` writes

* ``DIR/NAME_generated_large.gif``: the ``n_input`` context frames followed by the ``N`` predicted frames;
* ``DIR/NAME_expected_large.gif``: the same context followed by the ``N`` TRUE next frames.

Both carry :mod:`vfp.gif`'s timeline bar under the frames (grey: context, red: predicted,
green: true), as the evaluation GIFs do.

A prediction beyond the last frame has no truth to show, so when the video is long enough the
context ends ``N * interval`` frames before the end of the video and the expected GIF shows what
really came next. When it is not (but has at least the context), the context is the last
``n_input`` frames, only the generated GIF is written, and the result says so.

Frames are taken every ``interval`` frames and decoded at the model's training size: ``--size``,
else the ``size`` stored in the model file, else ``data.size`` from ``params.yaml`` (if present).
The interval likewise: ``--interval``, the model file's ``interval``, ``data.interval``, then 1.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vfp.errors import VfpError

__all__ = ["PredictResult", "predict_video", "output_paths", "checkpoint_meta"]


@dataclass(frozen=True)
class PredictResult:
    model: str
    generated: Path
    expected: Path | None        # None when the video has no frames after the context to compare with
    context_indices: tuple[int, ...]
    n_frames: int                # decodable frames of the video
    size: tuple[int, int]
    interval: int
    note: str = ""


def output_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``DIR/NAME.gif`` -> ``(DIR/NAME_expected_large.gif, DIR/NAME_generated_large.gif)``."""
    out = Path(out)
    stem = out.name[:-4] if out.name.lower().endswith(".gif") else out.name
    if not stem:
        raise VfpError(f"--out {out}: needs a file name, e.g. out/clip.gif")
    return out.with_name(f"{stem}_expected_large.gif"), out.with_name(f"{stem}_generated_large.gif")


def checkpoint_meta(path: Path) -> dict[str, Any]:
    """Non-weight entries of a vfp model file (e.g. ``size``, ``interval``, ``n_input``), or {}."""
    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - load_trained already reported real problems
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k != "state_dict"}


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, int):
        return value, value
    return None


@contextlib.contextmanager
def _native_stderr_quiet():
    """Hold back what native code (decord's C++ logger) writes to fd 2; our error line says it better.

    What was held back is dropped only when the block raises (a handled VideoReadError);
    otherwise it is written to stderr after all.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        ok = False
        try:
            yield
            ok = True
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            if ok:
                held.seek(0)
                text = held.read()
                if text:
                    os.write(fd, text)


def _params_data(params: Path | None):
    if params is None or not Path(params).is_file():
        return None
    from vfp.config import load_config

    return load_config(params).data


def _check_args(video: Path, steps: int, size, interval) -> None:
    if steps < 1:
        raise VfpError(f"--steps must be >= 1, got {steps}")
    if interval is not None and interval < 1:
        raise VfpError(f"--interval must be >= 1, got {interval}")
    if size is not None and min(size) < 8:
        raise VfpError(f"--size must be >= 8 on each side, got {list(size)}")
    if not video.is_file():
        raise VfpError(f"{video}: no such video file")


def _frame_settings(checkpoint: Path, name: str, model, size, interval, params) -> tuple[tuple[int, int], int]:
    """Frame size and interval: the arguments, else the model file's, else params.yaml's (interval 1)."""
    meta = checkpoint_meta(checkpoint)
    data = None
    if size is None or interval is None:
        data = _params_data(Path(params) if params is not None else None)
    size = size or _pair(meta.get("size")) or (tuple(data.size) if data is not None else None)
    if size is None:
        raise VfpError(f"{checkpoint}: the model file does not record its frame size and no params.yaml "
                       f"was found; pass --size H W (the training data.size)")
    if interval is None:
        stored = meta.get("interval")
        interval = stored if isinstance(stored, int) and stored >= 1 else (data.interval if data is not None else 1)
    stride = int(getattr(model, "stride", 1))
    if size[0] % stride or size[1] % stride:
        raise VfpError(f"--size {list(size)}: {name} needs sides divisible by {stride}")
    return size, interval


def _read_clip(video: Path, name: str, n_in: int, steps: int, size, interval):
    """The last context (+ true continuation when the video has it): ``(clip, indices, n_frames, note)``."""
    from vfp.data.video import VideoReadError, probe, read_frames
    from vfp.frames import to_model

    try:
        with _native_stderr_quiet():
            n_frames = probe(video)
    except VideoReadError as err:
        raise VfpError(f"{video}: {err}") from None
    ctx_span = (n_in - 1) * interval + 1
    full_span = (n_in + steps - 1) * interval + 1
    if n_frames < ctx_span:
        raise VfpError(f"{video}: {n_frames} frames, but {name} needs {n_in} context frames every "
                       f"{interval} ({ctx_span} frames)")
    note = ""
    if n_frames >= full_span:
        indices = n_frames - full_span + interval * np.arange(n_in + steps)
    else:
        indices = n_frames - ctx_span + interval * np.arange(n_in)
        note = (f"the video has {n_frames} frames, fewer than the {full_span} needed to show the true "
                f"continuation; predicted after its last frames, expected GIF not written")
    try:
        with _native_stderr_quiet():
            frames = read_frames(video, indices, size)
    except VideoReadError as err:
        raise VfpError(f"{video}: {err}") from None
    clip = to_model(torch.from_numpy(frames).permute(0, 3, 1, 2))  # [T, C, H, W] in [-1, 1]
    return clip, indices, n_frames, note


def _predict(model, name: str, checkpoint: Path, clip: torch.Tensor, steps: int, size, device: str):
    from vfp.engines.common import resolve_device

    channels = int(getattr(model, "channels", clip.shape[1]))
    if channels != clip.shape[1]:
        raise VfpError(f"{checkpoint}: {name} expects {channels}-channel frames, the video gives {clip.shape[1]}")
    dev = resolve_device(device)
    model = model.to(dev).eval()
    with torch.no_grad():
        try:
            return model(clip[: model.n_input].unsqueeze(0).to(dev), steps)[0].float().cpu()
        except ValueError as err:
            raise VfpError(f"{name} cannot predict {list(size)} frames: {err}") from None


def predict_video(video: str | os.PathLike, checkpoint: str | os.PathLike, steps: int, out: str | os.PathLike,
                  *, size: tuple[int, int] | None = None, interval: int | None = None,
                  params: str | os.PathLike | None = "params.yaml", device: str = "cpu",
                  fps: float = 4) -> PredictResult:
    """Predict ``steps`` frames after the context of ``video``; write the GIF pair (see module doc)."""
    from vfp.evaluation import gif_scale
    from vfp.gif import EXPECTED_COLOUR, GENERATED_COLOUR, write_gif
    from vfp.modelio import check_writable, load_trained

    video, checkpoint = Path(video), Path(checkpoint)
    _check_args(video, steps, size, interval)
    expected_path, generated_path = output_paths(out)
    check_writable(generated_path.parent)
    name, model = load_trained(checkpoint)
    size, interval = _frame_settings(checkpoint, name, model, size, interval, params)
    n_in = int(model.n_input)
    clip, indices, n_frames, note = _read_clip(video, name, n_in, steps, size, interval)
    pred = _predict(model, name, checkpoint, clip, steps, size, device)
    scale = gif_scale(size)
    write_gif(torch.cat([clip[:n_in], pred]), generated_path, scale=scale, fps=fps, timeline=(n_in, GENERATED_COLOUR))
    expected = None
    if not note:
        write_gif(clip, expected_path, scale=scale, fps=fps, timeline=(n_in, EXPECTED_COLOUR))
        expected = expected_path
    elif expected_path.is_file():
        expected_path.unlink()  # an earlier run's truth would not match this prediction
    return PredictResult(model=name, generated=generated_path, expected=expected,
                         context_indices=tuple(int(i) for i in indices[:n_in]), n_frames=n_frames,
                         size=(int(size[0]), int(size[1])), interval=int(interval), note=note)
