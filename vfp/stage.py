"""Shared entry for the thin stage scripts: parse ``--params``, load the config, run, one-line errors."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from vfp.config import Config, load_config
from vfp.errors import VfpError
from vfp.fileio import os_error_line


def run_stage(name: str, work: Callable[[Config, argparse.Namespace], int | None], argv: list[str] | None = None,
              add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
              load: Callable[[str], Config] = load_config) -> int:
    """Run ``work(cfg, args)`` and return its exit code (None: 0); a VfpError becomes ``error: ...`` on
    stderr and exit code 1, Ctrl-C exit code 130. ``load``: how the params are read (the model stages
    pass :func:`vfp.models.params.load_model_config`)."""
    parser = argparse.ArgumentParser(prog=f"stages/{name}.py", description=f"vfp pipeline stage: {name}")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load(args.params)
        code = work(cfg, args)
    except VfpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a write outside vfp's helpers (a library's log file): still one line
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: stage {name} stopped; its outputs were not replaced", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0
