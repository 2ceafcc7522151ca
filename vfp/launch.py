"""Run a function on ``nproc_per_node`` processes (Ignite's ``idist.Parallel``), or in this process.

A worker's :class:`~vfp.errors.VfpError` reaches the caller as that same error (sent back through a
queue, not read out of a traceback), so a user mistake found on any rank is one line, as on one process.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import ignite.distributed as idist
import torch
import torch.multiprocessing as mp

from vfp.errors import VfpError


def under_torchrun() -> bool:
    """True when the processes already exist (``torchrun``: ``WORLD_SIZE`` > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def default_backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def _worker(local_rank: int, fn: Callable[..., Any], errors: Any, args: tuple) -> None:
    try:
        fn(*args)
    except VfpError as err:
        errors.put(err)
        raise


def launch(fn: Callable[..., Any], *args: Any, nproc_per_node: int, backend: str | None = None) -> None:
    """``fn(*args)`` on every process of a ``backend`` (gloo | nccl) group: ``nproc_per_node`` spawned
    processes, or the ones ``torchrun`` started. ``fn`` and ``args`` must be picklable.

    Raises:
        VfpError: the first one a worker raised (re-raised here as the same error).
    """
    backend = backend or default_backend()
    errors = mp.get_context("spawn").SimpleQueue()
    try:
        with idist.Parallel(backend=backend, nproc_per_node=None if under_torchrun() else nproc_per_node) as par:
            par.run(_worker, fn, errors, args)
    except VfpError:
        raise
    except Exception:
        if not errors.empty():
            raise errors.get() from None
        raise
