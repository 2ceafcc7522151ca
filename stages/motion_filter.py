"""motion_filter stage: score classes by consecutive-frame L2 and write data/motion.json."""
import sys
from pathlib import Path

from vfp.data.motion import motion_filter
from vfp.stage import run_stage

OUT = Path("data/motion.json")


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=OUT, help="motion scores file (default: %(default)s)")


def work(cfg, args):
    m = cfg.motion
    result = motion_filter(Path(cfg.data.root), args.out, size=m.size, frames=m.frames, mode=m.mode,
                           threshold=m.threshold, decoder=cfg.data.decoder)
    print(f"motion_filter: kept {len(result['kept'])} classes, dropped {len(result['dropped'])}: "
          f"{', '.join(result['dropped']) or 'none'}; skipped {result['n_skipped']} unreadable videos -> {args.out}")


def main(argv=None) -> int:
    return run_stage("motion_filter", work, argv, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
