"""download stage: put the configured dataset (sample | ucf101 | folder) at data.root."""
import sys

from vfp.data.sources import prepare_data
from vfp.stage import run_stage


def work(cfg, args):
    summary = prepare_data(cfg)
    print(f"download ({cfg.data.source}): {summary} -> {cfg.data.root}")


def main(argv=None) -> int:
    return run_stage("download", work, argv)


if __name__ == "__main__":
    sys.exit(main())
