"""split stage: train/val/test lists from the official split, val carved from train by group."""
import sys
from pathlib import Path

from vfp.data.splits import make_splits
from vfp.stage import run_stage

OUT = Path("data/split")


def work(cfg, args):
    summary = make_splits(Path(cfg.data.root), Path("data/motion.json"), OUT, official=cfg.split.official,
                          val_fraction=cfg.split.val_fraction, seed=cfg.seed)
    print(f"split {summary['official']}: {summary['counts']} videos, {summary['groups']} groups -> {OUT}")


def main(argv=None) -> int:
    return run_stage("split", work, argv)


if __name__ == "__main__":
    sys.exit(main())
