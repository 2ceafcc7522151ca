"""The ``vfp predict`` and ``vfp export`` commands: their options and what they print.

:func:`add_commands` adds both sub-commands to the ``vfp`` parser and returns their handlers.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence

from vfp.baselines import NAMES
from vfp.data.video import DECODERS
from vfp.export import FORMATS, OPSET, TOLERANCE, export_model
from vfp.predict import MODES, PredictOptions, PredictResult, predict_video

__all__ = ["add_commands", "summary"]

PREDICT_EPILOG = f"""\
output (by its name): NAME.mp4 (H.264), NAME.gif, or a folder of PNG frames (a name without a suffix).
  default: <video stem>_<mode>.mp4 in the current folder.
modes:
  continue  the model reads its context frames and predicts --steps more; the context ends --steps frames
            before the end of the video (or starts at --start), so the true frames exist to compare with.
            Output: the context frames, then the predicted ones.
  next      every frame predicted one step ahead from the frames before it, the whole video streamed
            (memory flat in its length). Output: as many frames as the video; the first
            n_input*interval frames (no context yet) are the video's own.
--side-by-side: each frame is a row 'context | truth | prediction' (context: the last frame the model
  read), plus --baselines ({', '.join(NAMES)}) beside.
frame size: the video's own when the model is fully convolutional; otherwise (or with --size) scaled to
  cover the size with the aspect ratio kept and centre-cropped (printed).
"""


def _predict_parser(sub, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("predict", parents=list(parents), help="continue a video, or predict each of its frames",
                       description="Predict future frames of any ffmpeg-readable video (.mp4, .avi, .mkv, ...) "
                                   "with the pretrained model or a model file; write an MP4, a GIF or PNGs.",
                       epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("output", type=Path, nargs="?", default=None, help="NAME.mp4 | NAME.gif | FOLDER (see below)")
    p.add_argument("--out", type=Path, default=None, help="same as OUTPUT")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model file (models/<model>/model.pt); default: the pretrained model shipped with vfp")
    p.add_argument("--mode", choices=MODES, default="continue", help="default: %(default)s")
    p.add_argument("--steps", type=int, default=8, help="continue: frames to predict (default: %(default)s)")
    p.add_argument("--start", type=int, default=None, help="continue: index of the first context frame")
    p.add_argument("--side-by-side", action="store_true", help="context | truth | prediction in each frame")
    p.add_argument("--baselines", nargs="*", default=[], choices=list(NAMES), metavar="NAME",
                   help=f"with --side-by-side, also show: {' '.join(NAMES)}")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="run at this frame size (aspect ratio kept, centre crop)")
    p.add_argument("--interval", type=int, default=None, help="take every K-th frame (default: the model file's)")
    p.add_argument("--decoder", choices=DECODERS, default="auto",
                   help="video decoder (auto: decord where installed, else PyAV; default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"), help="default: %(default)s")
    p.add_argument("--batch", type=int, default=8, help="next: frames predicted at once (default: %(default)s)")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the video's / interval)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _export_parser(sub, parents: Sequence[argparse.ArgumentParser]) -> None:
    e = sub.add_parser("export", parents=list(parents), help="write a model as ONNX or TorchScript (runs without vfp)",
                       description=f"Export a model's next-frame step: context [1, n_input, C, H, W] in [-1, 1] -> "
                                   f"next frame [1, C, H, W]. ONNX opset {OPSET}; the file is run on a check input "
                                   f"and kept only if it matches PyTorch within {TOLERANCE:g}.")
    e.add_argument("checkpoint", type=Path, nargs="?", default=None,
                   help="model file (default: the pretrained model shipped with vfp)")
    e.add_argument("--format", choices=list(FORMATS), default="onnx", help="default: %(default)s")
    e.add_argument("--out", type=Path, default=None, help="output file (default: model.onnx / model.pt beside it)")
    e.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="frame size of the exported graph (default: the size stored in the model file)")


def _rate(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def summary(res: PredictResult) -> list[str]:
    """What ``vfp predict`` prints after writing."""
    h, w = res.size
    fps = res.predicted / res.seconds if res.seconds > 0 else 0.0
    model_fps = res.predicted / res.model_seconds if res.model_seconds > 0 else 0.0
    lines = [f"{res.model}: read {res.frames_read} frames at {h}x{w} (every {res.interval}), predicted {res.predicted}",
             f"wrote {res.out} ({res.kind}, {res.frames_written} frames)"]
    lines += [f"note: {n}" for n in res.notes]
    lines.append(f"{_rate(fps)} frames/s end to end ({res.seconds:.1f} s wall, decoding and writing included); "
                 f"model alone {_rate(model_fps)} frames/s")
    return lines


def _predict(args: argparse.Namespace) -> None:
    opts = PredictOptions(mode=args.mode, steps=args.steps, start=args.start, side_by_side=args.side_by_side,
                          baselines=tuple(args.baselines), size=tuple(args.size) if args.size else None,
                          interval=args.interval, decoder=args.decoder, device=args.device, batch=max(1, args.batch),
                          fps=args.fps, progress=not args.no_progress)
    res = predict_video(args.video, args.out or args.output, args.checkpoint, opts)
    print("\n".join(summary(res)))


def _export(args: argparse.Namespace) -> None:
    out = args.out
    if out is None:
        base = args.checkpoint if args.checkpoint is not None else Path("model.pt")
        out = base.with_suffix(FORMATS[args.format]) if args.format == "onnx" else base.with_name(
            f"{base.stem}.torchscript.pt")
    res = export_model(args.checkpoint, out, args.format, tuple(args.size) if args.size else None)
    print(f"{res.model}: wrote {res.out} ({res.fmt}, input context {list(res.input_shape)}: {res.inputs}, "
          f"in [-1, 1]; max abs difference from PyTorch {res.max_abs_diff:.2g} on a check input)")


def add_commands(sub, parents: Sequence[argparse.ArgumentParser] = ()) -> dict[str, Callable]:
    """Add ``predict`` and ``export`` to the sub-parsers ``sub``; returns ``{command: handler(args)}``."""
    _predict_parser(sub, parents)
    _export_parser(sub, parents)
    return {"predict": _predict, "export": _export}
