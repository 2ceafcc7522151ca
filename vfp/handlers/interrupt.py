"""Ctrl-C during training: the first SIGINT finishes the current iteration, then stops (and saves); a second aborts."""
from __future__ import annotations

import signal
import threading

from ignite.engine import Engine


class Interrupt:
    """``with Interrupt(trainer):`` around ``trainer.run``; ``hit`` tells whether a SIGINT arrived."""

    def __init__(self, trainer: Engine):
        self.trainer, self.hit, self._old = trainer, False, None

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True
        self.trainer.terminate()

    def __exit__(self, *exc) -> bool:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False

    def run(self, trainer: Engine, data, max_epochs: int) -> None:
        """``trainer.run(data, max_epochs)`` under this handler; an interrupt ends it quietly (``hit``)."""
        with self:
            try:
                trainer.run(data, max_epochs=max_epochs)
            except KeyboardInterrupt:
                self.hit = True
            except RuntimeError:
                if not self.hit:  # e.g. a DataLoader worker killed by the same Ctrl-C
                    raise
