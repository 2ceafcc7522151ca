"""train stage: train ``model`` into its run folder (see vfp.training).

``python stages/train.py [--params params.yaml] [--split-dir data/split] [--out models/<model>] [--nproc N]
[--backend gloo|nccl]``. Exit codes: 0 done, 1 user error (one line on stderr), 130 interrupted with Ctrl-C
(checkpoint saved).
"""
import sys
from pathlib import Path

from vfp.models.params import load_model_config
from vfp.stage import run_stage
from vfp.training import run


def add_arguments(parser):
    parser.add_argument("--split-dir", type=Path, default=Path("data/split"), help="folder with train/val lists")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: models/<model>)")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this node (default 1)")
    parser.add_argument("--backend", default=None, help="gloo | nccl (default: nccl on CUDA, else gloo)")


def work(cfg, args):
    summary = run(cfg, nproc_per_node=args.nproc, backend=args.backend, split_dir=args.split_dir, out_dir=args.out)
    return 130 if summary.get("interrupted") else 0


def main(argv=None) -> int:
    return run_stage("train", work, argv, add_arguments, load=load_model_config)


if __name__ == "__main__":
    sys.exit(main())
