"""``vfp predict VIDEO [OUT]``: continue a video or predict every frame one step ahead; write MP4, GIF or PNGs.

* ``mode="continue"``: the model reads ``n_input`` frames (every ``interval``) and predicts ``steps``
  more. The context ends ``steps * interval`` frames before the end of the video (or starts at
  ``start``), so the true continuation exists to compare with; a video too short for that is continued
  after its last frames. Output: the context frames, then the predicted ones.
* ``mode="next"``: every frame predicted from the frames before it (one step ahead), the whole video
  streamed: frames are decoded, predicted ``batch`` at a time and written as they come, so memory is
  flat in the video's length. Output: as many frames as the video; the first ``n_input * interval``
  (no context yet) are the video's own.
* ``side_by_side``: each output frame is a row ``context | truth | prediction`` (plus the ``baselines``
  asked for), labelled; ``context`` is the last frame the model read (what copy-last would repeat).

Frames are read at the video's own size when the model is fully convolutional, else (or with
``size``) scaled to cover the target size with the aspect ratio kept and centre-cropped (the result
says so). The model: ``checkpoint`` or, when None, the pretrained model shipped with vfp.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from vfp.api import Predictor, load_model
from vfp.baselines import LABELS, NAMES, predictors
from vfp.config import FlowConfig
from vfp.data.stream import VideoInfo, iter_frames, video_info
from vfp.data.video import VideoReadError
from vfp.errors import VfpError
from vfp.frames import to_model, to_uint8
from vfp.panels import side_by_side
from vfp.videowrite import open_writer, output_kind

__all__ = ["MODES", "PredictOptions", "PredictResult", "predict_video", "default_output"]

MODES = ("continue", "next")


@dataclass(frozen=True)
class PredictOptions:
    mode: str = "continue"
    steps: int = 8
    start: int | None = None             # continue: first context frame (None: end steps*interval early)
    side_by_side: bool = False
    baselines: tuple[str, ...] = ()      # names in vfp.baselines.NAMES shown beside (side_by_side)
    flow: FlowConfig = FlowConfig()      # the flow baseline's method (params.yaml's default)
    size: tuple[int, int] | None = None  # H, W to read frames at (None: the video's own when possible)
    interval: int | None = None          # None: the model file's
    decoder: str = "auto"
    device: str = "cpu"
    batch: int = 8
    fps: float | None = None             # output frame rate (None: the video's / interval)
    progress: bool = True


@dataclass
class PredictResult:
    model: str
    out: Path
    kind: str                 # mp4 | gif | png
    frames_read: int
    frames_written: int
    predicted: int
    size: tuple[int, int]     # H, W the model ran at
    interval: int
    seconds: float            # wall time of the whole call
    model_seconds: float      # time in the model's forward
    notes: list[str] = field(default_factory=list)


def default_output(video: Path, mode: str) -> Path:
    """``<video stem>_<mode>.mp4`` in the current folder."""
    return Path(f"{Path(video).stem}_{mode}.mp4")


def _check(video: Path, opts: PredictOptions) -> None:
    if opts.mode not in MODES:
        raise VfpError(f"--mode must be one of {', '.join(MODES)}, got {opts.mode!r}")
    if opts.steps < 1:
        raise VfpError(f"--steps must be >= 1, got {opts.steps}")
    if opts.interval is not None and opts.interval < 1:
        raise VfpError(f"--interval must be >= 1, got {opts.interval}")
    if opts.size is not None and min(opts.size) < 8:
        raise VfpError(f"--size must be >= 8 on each side, got {list(opts.size)}")
    if opts.start is not None and opts.start < 0:
        raise VfpError(f"--start must be >= 0, got {opts.start}")
    unknown = [b for b in opts.baselines if b not in NAMES]
    if unknown:
        raise VfpError(f"--baselines: unknown {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if not Path(video).is_file():
        raise VfpError(f"{video}: no such video file")


def frame_plan(src: tuple[int, int], target: tuple[int, int] | None) -> tuple[tuple[int, int] | None, tuple, str]:
    """``(decode size or None, crop (top, left, H, W) or (), note)`` to get ``target`` from ``src`` frames
    with the aspect ratio kept: scale to cover the target, then cut the middle."""
    if target is None or tuple(target) == tuple(src):
        return None, (), ""
    scale = max(target[0] / src[0], target[1] / src[1])
    decode = (max(target[0], round(src[0] * scale)), max(target[1], round(src[1] * scale)))
    top, left = (decode[0] - target[0]) // 2, (decode[1] - target[1]) // 2
    note = f"frames scaled from {src[0]}x{src[1]} to {decode[0]}x{decode[1]}"
    if decode != tuple(target):
        note += f" and centre-cropped to {target[0]}x{target[1]} (aspect ratio kept)"
    return decode, (top, left, target[0], target[1]), note


def _frames(video: Path, info: VideoInfo, predictor: Predictor, opts: PredictOptions, notes: list,
            bar: tqdm) -> Iterator[np.ndarray]:
    target = opts.size or (None if predictor.fully_convolutional else predictor.size)
    decode, crop, note = frame_plan(info.size, target)
    if note:
        notes.append(note + ("" if opts.size else f" ({predictor.name} takes {target[0]}x{target[1]} only)"))
    try:
        for frame in iter_frames(video, decode, opts.decoder):
            bar.update(1)
            if crop:
                top, left, h, w = crop
                frame = frame[top:top + h, left:left + w]
            yield frame
    except VideoReadError as err:
        raise VfpError(f"{video}: {err}") from None


def _baseline_frames(context: list[np.ndarray], opts: PredictOptions, steps: int) -> dict[str, np.ndarray]:
    """``{name: uint8 [steps, H, W, 3]}`` for each baseline asked for, from the context frames the model read."""
    x = to_model(rearrange(torch.from_numpy(np.stack(context)), "t h w c -> 1 t c h w"))
    fns = predictors(opts.flow.method, opts.flow.preset)
    return {n: to_uint8(rearrange(fns[n](x, steps)[0], "t c h w -> t h w c")).numpy() for n in opts.baselines}


def _row(opts: PredictOptions, context, truth, pred, base: dict, k: int, title: str) -> np.ndarray:
    if not opts.side_by_side:
        return pred
    panels = [("context", context), (f"truth {title}", truth), (f"prediction {title}", pred)]
    panels += [(f"{LABELS.get(n, n)} {title}", base[n][k] if base[n] is not None else None) for n in opts.baselines]
    return side_by_side(panels, like=pred)


def _continue(predictor: Predictor, frames: Iterator[np.ndarray], opts: PredictOptions, writer,
              notes: list) -> tuple[int, int]:
    """Mode continue (see the module doc): returns ``(frames read, frames predicted)``."""
    k = opts.interval or predictor.interval
    ctx, window = (predictor.n_input - 1) * k + 1, (predictor.n_input - 1) * k + 1 + opts.steps * k
    recent: deque[np.ndarray] = deque(maxlen=window)
    n = 0
    for frame in frames:
        recent.append(frame)
        n += 1
        if opts.start is not None and n >= opts.start + window:
            break
    have = list(recent) if opts.start is None else list(recent)[len(recent) - max(0, n - opts.start):]
    if len(have) < ctx:
        raise VfpError(f"{n} frames{f' from --start {opts.start}' if opts.start else ''}, but {predictor.name} "
                       f"needs {predictor.n_input} context frames every {k} ({ctx} frames)")
    if len(have) < window:
        notes.append(f"the video has no {opts.steps} true frames after the context: continued after its last "
                     f"frames, nothing to compare with")
        have = have[-ctx:]
    context, truth = have[:ctx:k], have[ctx - 1 + k::k]
    pred = predictor.predict(np.stack(have[:ctx]), opts.steps, interval=k)
    base = _baseline_frames(context, opts, opts.steps) if opts.side_by_side else {}
    for frame in context:
        writer.write(_row(opts, frame, frame, frame, {b: None for b in base}, 0, "context"))
    for s in range(opts.steps):
        true = truth[s] if s < len(truth) else None
        writer.write(_row(opts, context[-1], true, pred[s], base, s, f"t+{s + 1}"))
    return n, opts.steps


def _next(predictor: Predictor, frames: Iterator[np.ndarray], opts: PredictOptions, writer) -> tuple[int, int]:
    """Mode next (see the module doc): returns ``(frames read, frames predicted)``."""
    k = opts.interval or predictor.interval
    seen: deque[np.ndarray] = deque(maxlen=predictor.span(k) + 1)
    n = predicted = 0
    for frame, pred in predictor.iter_next(frames, k, opts.batch):
        seen.append(frame)
        n += 1
        if pred is None:
            writer.write(_row(opts, frame, frame, frame, {b: None for b in opts.baselines}, 0, "(no context)"))
            continue
        context = list(seen)[-predictor.span(k) - 1:-1:k]
        base = _baseline_frames(context, opts, 1) if opts.side_by_side else {}
        writer.write(_row(opts, context[-1], frame, pred, base, 0, "t+1"))
        predicted += 1
    return n, predicted


def predict_video(video: str | Path, out: str | Path | None = None, checkpoint: str | Path | None = None,
                  opts: PredictOptions = PredictOptions()) -> PredictResult:
    """Run ``vfp predict`` (see the module doc); ``out`` None: :func:`default_output`."""
    started = time.perf_counter()
    video = Path(video)
    _check(video, opts)
    out = Path(out) if out is not None else default_output(video, opts.mode)
    kind = output_kind(out)
    predictor = load_model(checkpoint, device=opts.device)
    try:
        info = video_info(video)
    except VideoReadError as err:
        raise VfpError(f"{video}: {err}") from None
    k = opts.interval or predictor.interval
    fps = opts.fps or (info.fps / k if opts.mode == "continue" else info.fps)
    notes: list[str] = []
    with tqdm(total=info.frames or None, unit="frame", desc=f"{predictor.name} {opts.mode}", file=sys.stderr,
              disable=not opts.progress, leave=False) as bar, open_writer(out, fps) as writer:
        frames = _frames(video, info, predictor, opts, notes, bar)
        run = _continue(predictor, frames, opts, writer, notes) if opts.mode == "continue" else \
            _next(predictor, frames, opts, writer)
    size = opts.size or (info.size if predictor.fully_convolutional or predictor.size is None else predictor.size)
    return PredictResult(model=predictor.name, out=out, kind=kind, frames_read=run[0], frames_written=writer.frames,
                         predicted=run[1], size=tuple(size), interval=k, seconds=time.perf_counter() - started,
                         model_seconds=predictor.model_seconds, notes=notes)
