"""Ignite handlers: checkpoint/resume, GIF snapshots, loss logs, progress and the NaN guard.

Each validates in ``__init__``, registers in ``attach(engine)``, works in ``__call__``.
"""
from vfp.handlers.checkpoint import CheckpointHandler, RngState, load_latest, prepare_run_dir, run_params
from vfp.handlers.loss_log import LossLog
from vfp.handlers.progress import NanGuard, Progress, RunningAverages
from vfp.handlers.snapshots import Snapshots

__all__ = [
    "CheckpointHandler",
    "LossLog",
    "NanGuard",
    "Progress",
    "RngState",
    "RunningAverages",
    "Snapshots",
    "load_latest",
    "prepare_run_dir",
    "run_params",
]
