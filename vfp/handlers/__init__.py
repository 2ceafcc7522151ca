"""Ignite handlers: checkpoint/resume, model selection, GIF snapshots, dvclive logs, progress and the NaN guard.

Each validates in ``__init__``, registers in ``attach(engine)``, works in ``__call__``.
"""
from vfp.handlers.checkpoint import CheckpointHandler, RngState, load_latest, prepare_run_dir, run_params
from vfp.handlers.live import LiveLog
from vfp.handlers.progress import NanGuard, Progress, RunningAverages
from vfp.handlers.selection import Selection
from vfp.handlers.snapshots import Snapshots

__all__ = [
    "CheckpointHandler",
    "LiveLog",
    "NanGuard",
    "Progress",
    "RngState",
    "RunningAverages",
    "Selection",
    "Snapshots",
    "load_latest",
    "prepare_run_dir",
    "run_params",
]
