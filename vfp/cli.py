"""The ``vfp`` command: ``vfp predict``, ``vfp report``, ``vfp evaluate``, ``vfp cache``, ``vfp compare`` (``--help`` on each).

User errors (missing or unreadable files, a video too short for the model, a file that is not a
vfp model, bad params) print one ``error: ...`` line on stderr and exit with code 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfp.errors import VfpError

PREDICT_EPILOG = """\
output files (the study's naming): --out DIR/NAME.gif writes
  DIR/NAME_generated_large.gif  the n_input context frames, then the N predicted frames
  DIR/NAME_expected_large.gif   the same context, then the N true next frames
When the video is long enough, the context ends N*interval frames before its end, so that the
expected GIF shows what really came next. Otherwise the context is the video's last frames and
only the generated GIF is written (a note says so).

frame size: --size, else the size stored in the model file, else data.size of --params.
interval:   --interval, else the model file's, else data.interval of --params, else 1.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vfp", description="vfp: video next-frame prediction (train/evaluate run as DVC stages)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("predict", help="continue a video with a trained model; write GIFs",
                       description="Continue any ffmpeg-readable video (.avi, .mp4, ...) with a trained model.",
                       epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", type=Path, help="video file (UCF-101 .avi or any format ffmpeg decodes)")
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="model file written by training (models/<model>/model.pt)")
    p.add_argument("--steps", type=int, required=True, help="frames to predict")
    p.add_argument("--out", type=Path, required=True, help="DIR/NAME.gif (see below for the files written)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="frame size the model was trained at (default: from the model file or --params)")
    p.add_argument("--interval", type=int, default=None,
                   help="take every K-th frame (default: from the model file or --params, else 1)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"),
                   help="params file for size/interval defaults, used if it exists (default: params.yaml)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"), help="default: cpu")

    r = sub.add_parser("report", help="rebuild reports/<model>/index.html from the saved metrics",
                       description="Rebuild reports/<model>/index.html from metrics/metrics.json, "
                                   "metrics/per_step.csv, reports/<model>/gifs/ and models/<model>/logs/ "
                                   "without running the model.")
    r.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    r.add_argument("--metrics", type=Path, default=Path("metrics/metrics.json"), help="default: %(default)s")
    r.add_argument("--per-step", type=Path, default=Path("metrics/per_step.csv"), help="default: %(default)s")
    r.add_argument("--report-dir", type=Path, default=None, help="default: reports/<model>")

    e = sub.add_parser("evaluate", help="same as the evaluate stage (model and copy-last on the test split)",
                       description="Evaluate the trained model and copy-last on the test split; write "
                                   "metrics/metrics.json, metrics/per_step.csv and reports/<model>/.")
    e.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    e.add_argument("--split-dir", type=Path, default=Path("data/split"), help="default: %(default)s")
    e.add_argument("--checkpoint", type=Path, default=None, help="default: models/<model>/model.pt")
    c = sub.add_parser("cache", help="decode every split video once into the frame cache (data.cache)",
                       description="Fill data.cache with uint8 frames at data.size for the train/val/test "
                                   "videos, in parallel; videos already cached are skipped (resumable).")
    c.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    c.add_argument("--split-dir", type=Path, default=Path("data/split"), help="default: %(default)s")
    c.add_argument("--workers", type=int, default=2, help="decoding processes (default: %(default)s)")
    m = sub.add_parser("compare", help="every experiment side by side: reports/compare/index.html",
                       description="One row per experiment DVC knows (workspace, baseline, every dvc exp run) "
                                   "with the params that differ and the test metrics per horizon step beside "
                                   "copy-last; then compare.clips test clips with one column per method "
                                   "(context, truth, copy-last, each experiment's model read from DVC).")
    m.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    m.add_argument("--split-dir", type=Path, default=Path("data/split"), help="default: %(default)s")
    m.add_argument("--out", type=Path, default=Path("reports/compare"), help="output folder (default: %(default)s)")
    return parser


def _compare(args: argparse.Namespace) -> None:
    from vfp.compare import compare
    from vfp.config import load_config

    cfg = load_config(args.params)
    path = compare(cfg, root=args.params.resolve().parent, split_dir=args.split_dir, out_dir=args.out)
    print(f"wrote {path}")


def _cache(args: argparse.Namespace) -> None:
    from vfp.config import load_config
    from vfp.data.cache import build_cache
    from vfp.data.splits import SPLIT_NAMES, read_split

    cfg = load_config(args.params)
    if not cfg.data.cache:
        raise VfpError(f"{args.params}: data.cache is empty; set a folder to cache decoded frames in")
    videos = [v for name in SPLIT_NAMES for v in read_split(args.split_dir, name)]
    summary = build_cache(videos, Path(cfg.data.cache), tuple(cfg.data.size), workers=max(1, args.workers),
                          decoder=cfg.data.decoder)
    print(f"cache {cfg.data.cache}: {summary['decoded']} decoded, {summary['already']} already cached, "
          f"{len(summary['failed'])} failed; {summary['bytes'] / 2**20:.1f} MiB for {summary['videos']} videos")


def _predict(args: argparse.Namespace) -> None:
    from vfp.predict import predict_video

    res = predict_video(args.video, args.checkpoint, args.steps, args.out,
                        size=tuple(args.size) if args.size else None, interval=args.interval,
                        params=args.params, device=args.device)
    first, last = res.context_indices[0], res.context_indices[-1]
    n_ctx = len(res.context_indices)
    print(f"{res.model}: {n_ctx} context frame{'s' if n_ctx > 1 else ''} ({first}..{last} every {res.interval} "
          f"of {res.n_frames}, {res.size[0]}x{res.size[1]}) + {args.steps} predicted")
    print(f"wrote {res.generated}")
    if res.expected is not None:
        print(f"wrote {res.expected}")
    if res.note:
        print(f"note: {res.note}")


def _report(args: argparse.Namespace) -> None:
    from vfp.config import load_config
    from vfp.evaluation import rebuild_report

    cfg = load_config(args.params)
    path = rebuild_report(cfg, metrics_path=args.metrics, per_step_path=args.per_step, report_dir=args.report_dir)
    print(f"wrote {path}")


def _evaluate(args: argparse.Namespace) -> None:
    from vfp.config import load_config
    from vfp.data.video import set_decoder
    from vfp.evaluation import evaluate, summary_lines

    cfg = load_config(args.params)
    set_decoder(cfg.data.decoder)
    flat = evaluate(cfg, model_path=args.checkpoint, split_dir=args.split_dir)
    print("\n".join(summary_lines(flat, cfg.model)))


COMMANDS = {"predict": _predict, "report": _report, "evaluate": _evaluate, "cache": _cache, "compare": _compare}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except VfpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # e.g. an output folder that cannot be written
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
