"""split stage: train/val/test lists by group (official split, val carved by group) or by time."""
import sys
from pathlib import Path

from vfp.data.clips import clip_span
from vfp.data.splits import make_splits
from vfp.stage import run_stage

MOTION = Path("data/motion.json")
OUT = Path("data/split")
MIN_CONTEXT = 4  # context frames every evaluated clip has (vfp.testset.MIN_CONTEXT)


def split_gap(cfg) -> int:
    """Frames between temporal segments: ``split.gap``, or one evaluated clip span when it is 0."""
    return cfg.split.gap or clip_span(MIN_CONTEXT + cfg.evaluate.horizon, cfg.data.interval)


def add_arguments(parser):
    parser.add_argument("--motion", type=Path, default=MOTION, help="motion scores (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the split lists (default: %(default)s)")


def work(cfg, args):
    s = cfg.split
    gap = split_gap(cfg)
    summary = make_splits(Path(cfg.data.root), args.motion, args.out, official=s.official,
                          val_fraction=s.val_fraction, seed=cfg.seed, mode=s.mode, fractions=s.fractions, gap=gap,
                          min_len=max(gap, clip_span(MIN_CONTEXT + cfg.evaluate.horizon, cfg.data.interval)))
    how = f"temporal for {len(summary['temporal_classes'])} classes (gap {gap} frames)" if summary["temporal_classes"] \
        else f"split {summary['official']} by group"
    print(f"split ({s.mode}: {how}): {summary['counts']} entries, {summary['frames']} frames -> {args.out}")


def main(argv=None) -> int:
    return run_stage("split", work, argv, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
