"""Training on several processes or nodes: what crosses the process group, and what a change of world size means.

* :func:`share_from_rank0`: rank 0's object (a checkpoint it read) sent to every rank, so the other
  nodes need no copy of the run folder (only rank 0 reads and writes it).
* :func:`fit_epoch_length`: a run resumed on another number of processes keeps counting epochs right.
* :func:`note_global_batch`: says when ``train.batch_size`` does not split evenly over the processes.
* :func:`attach_clip_log`: with ``VFP_CLIP_LOG=<folder>`` in the environment, each rank appends the
  sampler's indices of every epoch and the clips of every batch to ``<folder>/rank<R>.jsonl``
  (one JSON object a line), to check that the ranks share the data without overlap.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import ignite.distributed as idist
import torch
import torch.distributed as dist
from ignite.engine import Engine, Events

from vfp.errors import VfpError

CLIP_LOG_ENV = "VFP_CLIP_LOG"

__all__ = ["CLIP_LOG_ENV", "share_from_rank0", "fit_epoch_length", "note_global_batch", "attach_clip_log",
           "process_rank"]


def process_rank() -> int:
    """This process's global rank before the process group exists (``RANK`` set by torchrun; else 0)."""
    return int(os.environ.get("RANK", "0") or 0)


def share_from_rank0(obj: Any) -> Any:
    """``obj`` as rank 0 holds it, on every rank (pickled through the process group); a no-op on one process."""
    if idist.get_world_size() <= 1:
        return obj
    box = [obj if idist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def note_global_batch(batch_size: int, world: int, say: Callable[[str], None]) -> int:
    """The per-process batch (``batch_size // world``, at least 1); says so when the global batch changes."""
    per_rank = max(1, batch_size // world)
    if per_rank * world != batch_size:
        say(f"note: train.batch_size {batch_size} does not split evenly over {world} processes: "
            f"{per_rank} per process, a global batch of {per_rank * world}")
    return per_rank


def fit_epoch_length(trainer: Engine, epoch_length: int, say: Callable[[str], None]) -> None:
    """After a resume: when this world size makes ``epoch_length`` iterations per epoch instead of the
    checkpoint's, continue at the same epoch on the new count (a mid-epoch checkpoint cannot be)."""
    state = trainer.state
    old = state.epoch_length
    if not old or old == epoch_length or state.iteration == 0:
        return
    if state.iteration != state.epoch * old:
        raise VfpError(f"the checkpoint is in the middle of epoch {state.epoch + 1} at {old} iterations per epoch, "
                       f"this run makes {epoch_length} (another number of processes or train.batch_size): "
                       "resume with the processes it was saved with, or from an epoch's end")
    state.epoch_length, state.iteration = epoch_length, state.epoch * epoch_length
    say(f"note: {old} -> {epoch_length} iterations per epoch on this number of processes; "
        f"continuing after epoch {state.epoch}")


def _append(path: Path, record: dict) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def _clip_names(batch: Any) -> list[str]:
    if not isinstance(batch, dict) or "video" not in batch:
        return []
    starts: Iterable = batch.get("start", [None] * len(batch["video"]))
    starts = starts.tolist() if isinstance(starts, torch.Tensor) else list(starts)
    return [f"{video}@{start}" for video, start in zip(batch["video"], starts)]


def attach_clip_log(trainer: Engine, sampler: Iterable[int], rank: int, world: int) -> Path | None:
    """Record this rank's share of the training data when ``VFP_CLIP_LOG`` names a folder (else nothing).

    Attach after the handler that calls ``sampler.set_epoch`` (it must run first at EPOCH_STARTED)."""
    folder = os.environ.get(CLIP_LOG_ENV)
    if not folder:
        return None
    path = Path(folder) / f"rank{rank}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)

    @trainer.on(Events.EPOCH_STARTED)
    def _indices(engine: Engine) -> None:
        _append(path, {"rank": rank, "world": world, "epoch": engine.state.epoch, "indices": list(sampler)})

    @trainer.on(Events.ITERATION_STARTED)
    def _batch(engine: Engine) -> None:
        _append(path, {"rank": rank, "world": world, "epoch": engine.state.epoch,
                       "iteration": engine.state.iteration, "clips": _clip_names(engine.state.batch)})

    return path
