"""Progress bar with running averages, and the NaN/inf guard."""
from __future__ import annotations

import math
import sys
from typing import Callable

from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar


class RunningAverages:
    """Exponential running average of every scalar in the step output dict -> ``state.metrics``.

    Works with keys that appear only in some iterations (e.g. D losses after warm-up),
    which Ignite's ``RunningAverage`` (one fixed key each) does not.
    """

    def __init__(self, alpha: float = 0.98):
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = alpha
        self.values: dict[str, float] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        out = engine.state.output
        if not isinstance(out, dict):
            return
        for key, value in out.items():
            value = float(value)
            old = self.values.get(key)
            self.values[key] = value if old is None else self.alpha * old + (1 - self.alpha) * value
            engine.state.metrics[key] = self.values[key]


class Progress:
    """tqdm bar over each epoch showing the running averages (``persist``: keep finished bars).

    When stderr is not a terminal (DVC, CI, log files) the bar would write a line per refresh;
    there it prints one line per epoch with the running averages instead.
    """

    def __init__(self, keys: tuple[str, ...] | None = None, persist: bool = False,
                 interactive: bool | None = None, log: Callable[[str], None] = print):
        self.keys = keys
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.bar = ProgressBar(persist=persist) if self.interactive else None
        self.log = log

    def attach(self, engine: Engine) -> None:
        RunningAverages().attach(engine)
        if self.bar is not None:
            self.bar.attach(engine, metric_names=list(self.keys) if self.keys else "all")
        else:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_line)

    def _epoch_line(self, engine: Engine) -> None:
        keys = self.keys or sorted(k for k, v in engine.state.metrics.items() if isinstance(v, float))
        values = ", ".join(f"{k}={engine.state.metrics[k]:.4g}" for k in keys if k in engine.state.metrics)
        self.log(f"epoch {engine.state.epoch}/{engine.state.max_epochs} "
                 f"({engine.state.iteration} iterations): {values}")


class NanGuard:
    """Stops training when a scalar of the step output is NaN/inf, with a clear message.

    Then ``key`` names the loss (the checkpoint handler refuses to save) and ``message`` says which
    loss, where, and the last good checkpoint to resume from (``last_checkpoint()`` gives its path,
    or None); both are None while training is sound.
    """

    def __init__(self, last_checkpoint: Callable[[], object] = lambda: None, log: Callable[[str], None] = print,
                 resumed_from: str = ""):
        self.last_checkpoint = last_checkpoint
        self.log = log
        self.resumed_from = str(resumed_from or "")
        self.key: str | None = None
        self.message: str | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        out = engine.state.output
        items = out.items() if isinstance(out, dict) else [("loss", out)]
        for key, value in items:
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                where = self._advice(self.last_checkpoint())
                self.key = key
                self.message = (f"training stopped: loss '{key}' became {value} at epoch {engine.state.epoch}, "
                                f"iteration {engine.state.iteration}; {where}")
                self.log(self.message)
                engine.terminate()
                return

    def _advice(self, last: object) -> str:
        """What to resume from: never the checkpoint this run resumed from when no other was saved since
        (a deterministic run from it reaches the same NaN; its bytes may be damaged)."""
        if not last:
            return "no checkpoint was saved yet"
        if self.resumed_from and str(last) == self.resumed_from:
            return (f"the run resumed from {last} and no checkpoint was saved since, so resuming from it again "
                    "ends the same way (its bytes may be damaged): move it aside to resume from the one before, "
                    "or lower the lr or grad_clip and start again (train.resume: never)")
        return f"resume from the last good checkpoint {last} (lower the lr or grad_clip first)"

