"""Train stage: ``python stages/train.py [--params params.yaml] [--nproc N] [--backend gloo|nccl]``.

Reads params.yaml, trains ``model`` into ``models/<model>/`` (see vfp.training). Exit codes:
0 done, 1 user error (one line on stderr), 130 interrupted with Ctrl-C (checkpoint saved).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfp.errors import VfpError
from vfp.fileio import os_error_line
from vfp.models.params import load_model_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--split-dir", default="data/split", help="folder with train/val lists")
    parser.add_argument("--out", default=None, help="output folder (default: models/<model>)")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this node (default 1)")
    parser.add_argument("--backend", default=None, help="gloo | nccl (default: nccl on CUDA, else gloo)")
    args = parser.parse_args(argv)
    try:
        from vfp.training import run

        cfg = load_model_config(args.params)
        summary = run(cfg, nproc_per_node=args.nproc, backend=args.backend,
                      split_dir=Path(args.split_dir), out_dir=Path(args.out) if args.out else None)
    except VfpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a write outside vfp's helpers (dvclive's files): still one line
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 130 if summary.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
