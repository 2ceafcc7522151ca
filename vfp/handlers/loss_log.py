"""Loss logs DVC plots can read, and a PNG of the curves.

Files in ``<run>/logs/`` (CSV, header row, one value per cell, empty when a key did not occur):

* ``train_steps.csv``  ``step,epoch,<key>...``: the mean of each scalar over the last ``every``
  iterations (a running average), one row every ``every`` iterations;
* ``train_epoch.csv``  ``epoch,<key>...``: the mean of each scalar over the epoch;
* ``val.csv``          ``epoch,psnr_t1,psnr_mean,...``: validation PSNR (dB) after each validation;
* ``loss_curves.png``  every epoch-level curve (log scale where positive), redrawn each epoch.

All written atomically (temp file + ``os.replace``). On resume (trainer epoch E > 0 at start)
existing rows up to epoch E are kept and later ones dropped, so files stay consistent.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from ignite.engine import Engine, Events

from vfp.fileio import atomic_write_text

STEPS_FILE = "train_steps.csv"
EPOCH_FILE = "train_epoch.csv"
VAL_FILE = "val.csv"
PLOT_FILE = "loss_curves.png"


TOTAL_LOSS_KEYS = ("loss", "loss_g")  # written last: `dvc plots` draws the last column by default


def _write_csv_atomic(path: Path, rows: list[dict], first: tuple[str, ...]) -> None:
    rest = {k for r in rows for k in r} - set(first)
    keys = list(first) + sorted(rest, key=lambda k: (k in TOTAL_LOSS_KEYS, k))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: (int(v) if k in ("epoch", "step") else float(v)) for k, v in row.items() if v != ""})
    return rows


class LossLog:
    """``attach(trainer, evaluator=None)``; see the module doc for the files."""

    def __init__(self, log_dir: str | Path, every: int = 10):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.dir = Path(log_dir)
        self.every = every
        self.step_rows: list[dict] = []
        self.epoch_rows: list[dict] = []
        self.val_rows: list[dict] = []
        self._window: dict[str, list[float]] = {}
        self._epoch: dict[str, list[float]] = {}
        self._trainer: Engine | None = None

    def attach(self, trainer: Engine, evaluator: Engine | None = None) -> None:
        self._trainer = trainer
        trainer.add_event_handler(Events.STARTED, self._started)
        trainer.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, self)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        if evaluator is not None:
            evaluator.add_event_handler(Events.COMPLETED, self._val_completed)

    def _started(self, trainer: Engine) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        done = trainer.state.epoch  # completed epochs (resume) or 0
        self.step_rows = [r for r in _read_csv(self.dir / STEPS_FILE) if r.get("epoch", 0) <= done]
        self.epoch_rows = [r for r in _read_csv(self.dir / EPOCH_FILE) if r.get("epoch", 0) <= done]
        self.val_rows = [r for r in _read_csv(self.dir / VAL_FILE) if r.get("epoch", 0) <= done]

    def _epoch_started(self, trainer: Engine) -> None:
        self._epoch = {}
        self._window = {}

    def __call__(self, trainer: Engine) -> None:
        out = trainer.state.output
        if not isinstance(out, dict):
            return
        for key, value in out.items():
            value = float(value)
            if math.isfinite(value):
                self._window.setdefault(key, []).append(value)
                self._epoch.setdefault(key, []).append(value)
        if trainer.state.iteration % self.every == 0 and self._window:
            row = {"step": trainer.state.iteration, "epoch": trainer.state.epoch}
            row.update({k: sum(v) / len(v) for k, v in self._window.items()})
            self.step_rows.append(row)
            self._window = {}

    def _epoch_completed(self, trainer: Engine) -> None:
        row = {"epoch": trainer.state.epoch}
        row.update({k: sum(v) / len(v) for k, v in self._epoch.items() if v})
        self.epoch_rows.append(row)
        self.flush()

    def _val_completed(self, evaluator: Engine) -> None:
        epoch = self._trainer.state.epoch if self._trainer is not None else len(self.val_rows) + 1
        row = {"epoch": epoch}
        row.update({k: float(v) for k, v in evaluator.state.metrics.items() if isinstance(v, (int, float))})
        self.val_rows = [r for r in self.val_rows if r["epoch"] != epoch] + [row]
        self.flush()

    def flush(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_csv_atomic(self.dir / STEPS_FILE, self.step_rows, ("step", "epoch"))
        _write_csv_atomic(self.dir / EPOCH_FILE, self.epoch_rows, ("epoch",))
        if self.val_rows:
            _write_csv_atomic(self.dir / VAL_FILE, self.val_rows, ("epoch", "psnr_t1", "psnr_mean"))
        self._plot()

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = sorted({k for r in self.epoch_rows for k in r} - {"epoch"})
        n = len(keys) + (1 if self.val_rows else 0)
        if n == 0:
            return
        cols = min(4, n)
        rows = math.ceil(n / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
        series = [(k, self.step_rows, "step", self.epoch_rows) for k in keys]
        for ax, (key, steps, _, epochs) in zip(axes.flat, series):
            n_per_epoch = max((r["step"] for r in steps), default=0) / max(len(epochs), 1)
            xs = [r["step"] / n_per_epoch for r in steps if key in r] if n_per_epoch else []
            ax.plot(xs, [r[key] for r in steps if key in r], lw=0.8, alpha=0.5, label="running")
            ax.plot([r["epoch"] for r in epochs if key in r], [r[key] for r in epochs if key in r], "o-", label="epoch")
            vals = [r[key] for r in epochs if key in r] + [r[key] for r in steps if key in r]
            if vals and min(vals) > 0:
                ax.set_yscale("log")
            ax.set_title(key, fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
        if self.val_rows:
            ax = axes.flat[len(keys)]
            ax.plot([r["epoch"] for r in self.val_rows], [r.get("psnr_t1", float("nan")) for r in self.val_rows], "o-")
            ax.set_title("val PSNR t+1 (dB)", fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        fig.tight_layout()
        tmp = self.dir / f".{PLOT_FILE}.tmp.png"
        fig.savefig(tmp, dpi=80)
        plt.close(fig)
        os.replace(tmp, self.dir / PLOT_FILE)
