"""The ``vfp`` command: ``vfp predict``, ``vfp export``, ``vfp report``, ``vfp evaluate``, ``vfp cache``,
``vfp compare`` (``--help`` on each).

User errors (missing or unreadable files, a video too short for the model, a file that is not a
vfp model, bad params) print one ``error: ...`` line on stderr and exit with code 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfp.compare import compare
from vfp.config import decode_size, load_config
from vfp.data.cache import build_cache
from vfp.data.splits import SPLIT_NAMES, read_split
from vfp.errors import VfpError
from vfp.evaluation import evaluate, rebuild_report
from vfp.models.params import load_model_config
from vfp.predict_cli import add_commands
from vfp.results import summary_lines
from vfp.runs import METRICS_FILE, PER_STEP_FILE


def _with_params() -> argparse.ArgumentParser:
    """The parent parser of the commands that read params.yaml: ``--params``, declared once."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: %(default)s)")
    return shared


def _with_split(shared: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--params`` and ``--split-dir`` (the commands that read the split lists)."""
    split = argparse.ArgumentParser(add_help=False, parents=[shared])
    split.add_argument("--split-dir", type=Path, default=Path("data/split"), help="default: %(default)s")
    return split


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vfp", description="vfp: video next-frame prediction (train/evaluate run as DVC stages)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    COMMANDS.update(add_commands(sub))  # predict, export
    params = _with_params()
    split = _with_split(params)

    r = sub.add_parser("report", parents=[params], help="rebuild reports/<model>/index.html from the saved metrics",
                       description="Rebuild reports/<model>/index.html from metrics/metrics.json, "
                                   "metrics/per_step.csv, reports/<model>/gifs/ and models/<model>/logs/ "
                                   "without running the model.")
    r.add_argument("--metrics", type=Path, default=METRICS_FILE, help="default: %(default)s")
    r.add_argument("--per-step", type=Path, default=PER_STEP_FILE, help="default: %(default)s")
    r.add_argument("--report-dir", type=Path, default=None, help="default: reports/<model>")

    e = sub.add_parser("evaluate", parents=[split],
                       help="same as the evaluate stage (the model, copy-last and flow on the test split)",
                       description="Evaluate the trained model beside the two baselines on the test split: "
                                   "copy-last (the last context frame repeated) and flow (the last frame moved on "
                                   "by the optical flow between the last two context frames, flow.method); write "
                                   "metrics/metrics.json, metrics/per_step.csv and reports/<model>/.")
    e.add_argument("--checkpoint", type=Path, default=None, help="default: models/<model>/model.pt")
    c = sub.add_parser("cache", parents=[split], help="decode every split video once into the frame cache (data.cache)",
                       description="Fill data.cache with uint8 frames at data.size (source: each video's own "
                                   "size) for the train/val/test videos, in parallel; videos already cached are "
                                   "skipped (resumable).")
    c.add_argument("--workers", type=int, default=2, help="decoding processes (default: %(default)s)")
    m = sub.add_parser("compare", parents=[split], help="every experiment side by side: reports/compare/index.html",
                       description="One row per experiment DVC knows (workspace, baseline, every dvc exp run) "
                                   "with the params that differ and the test metrics per horizon step beside "
                                   "copy-last and flow; then compare.clips test clips with one column per method "
                                   "(context, truth, copy-last, each experiment's model read from DVC).")
    m.add_argument("--out", type=Path, default=Path("reports/compare"), help="output folder (default: %(default)s)")
    return parser


def _compare(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    path = compare(cfg, root=args.params.resolve().parent, split_dir=args.split_dir, out_dir=args.out)
    print(f"wrote {path}")


def _cache(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    if not cfg.data.cache:
        raise VfpError(f"{args.params}: data.cache is empty; set a folder to cache decoded frames in")
    videos = [v for name in SPLIT_NAMES for v in read_split(args.split_dir, name)]
    summary = build_cache(videos, Path(cfg.data.cache), decode_size(cfg.data.size), workers=max(1, args.workers),
                          decoder=cfg.data.decoder)
    print(f"cache {cfg.data.cache}: {summary['decoded']} decoded, {summary['already']} already cached, "
          f"{len(summary['failed'])} failed; {summary['bytes'] / 2**20:.1f} MiB for {summary['videos']} videos")


def _report(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    path = rebuild_report(cfg, metrics_path=args.metrics, per_step_path=args.per_step, report_dir=args.report_dir)
    print(f"wrote {path}")


def _evaluate(args: argparse.Namespace) -> None:
    cfg = load_model_config(args.params)
    flat = evaluate(cfg, model_path=args.checkpoint, split_dir=args.split_dir)
    print("\n".join(summary_lines(flat, cfg.model)))


COMMANDS = {"report": _report, "evaluate": _evaluate, "cache": _cache, "compare": _compare}


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
