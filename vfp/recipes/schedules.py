"""Training schedules as pure functions of the trainer's iteration (1-based, as Ignite counts).

Nothing here is checkpointed: a resumed trainer restores ``state.iteration`` and the schedule value
follows from it and the current params. So a run resumed with other ``train.epochs`` continues on
the schedule of the new length instead of failing to load (or silently keeping) the old one.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from ignite.engine import Events


def cosine_with_warmup(iteration: int, total: int, lr: float, warmup: float, final: float) -> float:
    """LR at ``iteration`` of ``total``: linear from 1% of ``lr`` to ``lr`` over the first ``warmup``
    fraction (when that is >= 2 iterations), then a cosine from ``lr`` down to ``final`` x ``lr``."""
    i = max(0, iteration - 1)
    warm = int(round(warmup * total))
    warm = warm if warm >= 2 else 0
    if i < warm:
        return lr * 0.01 + (lr - lr * 0.01) * i / (warm - 1)
    progress = min(1.0, (i - warm) / max(1, total - warm))
    return lr * final + (lr - lr * final) * (1 + math.cos(math.pi * progress)) / 2


def linear_ramp(iteration: int, steps: int, start: float, end: float) -> float:
    """``start`` at iteration 1, linear to ``end`` at iteration ``steps + 1``, then ``end``."""
    return start + (end - start) * min(1.0, max(0, iteration - 1) / max(1, steps))


def attach_lr(trainer, opt: torch.optim.Optimizer, lr_at: Callable[[int], float]) -> None:
    """Set every param group's LR to ``lr_at(trainer.state.iteration)`` at each iteration start."""
    @trainer.on(Events.ITERATION_STARTED)
    def _set_lr(engine) -> None:
        value = lr_at(engine.state.iteration)
        for group in opt.param_groups:
            group["lr"] = value
