"""Training curves with dvclive (DVC's logger): what `dvc exp show` and `dvc plots` read.

``LiveLog(run_dir).attach(trainer, evaluator)`` (rank 0 only) keeps a dvclive folder in
``<run_dir>/logs/`` (``models/<model>/logs/``), one step per epoch (``step`` = epoch number):

* ``metrics.json``                  the latest value of every curve (``dvc metrics`` / ``dvc exp show``);
* ``plots/metrics/train/<key>.tsv`` the epoch mean of every scalar the trainer's output dict holds
  (``loss``, ``loss_g``, ``lp``, ``gdl``, ``adv``, ``d_real``, ``d_fake``, per-scale keys, ...);
* ``plots/metrics/val/<key>.tsv``   every number in the evaluator's ``state.metrics`` after each validation;
* ``plots/images/snapshots/<video>/<epoch>.png``  the epoch's GIF snapshot pair as a frame strip
  (true future above, predicted below), when ``<run_dir>/snapshots/epoch_NNN/`` holds one.

``dvc.yaml`` names these files (top-level ``metrics:``/``plots:``), so dvclive never writes a
``dvc.yaml`` of its own and never saves experiments itself (``dvc exp run`` does).
Resuming (trainer epoch E > 0 when it starts) opens ``Live(resume=True)`` and first drops every
row and image after step E, so a curve never holds the same step twice.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
from ignite.engine import Engine, Events

from vfp.fileio import atomic_write_text
from vfp.runs import EXPECTED_SUFFIX, LOGS_DIR, SNAPSHOTS_DIR, gif_pair_paths, read_tsv, tsv_curves

__all__ = ["LiveLog", "LIVE_DIR", "truncate_after"]

LIVE_DIR = LOGS_DIR
STEP = "step"


def truncate_after(live_dir: Path, step: int) -> dict[str, float]:
    """Drop the rows (``plots/metrics/**.tsv``) and step images with a step > ``step``.

    Returns the last kept value of each metric (``{"train/loss": ...}``) to rebuild the summary.
    """
    live_dir = Path(live_dir)
    last: dict[str, float] = {}
    for path in tsv_curves(live_dir):
        rows = read_tsv(path)
        kept = [r for r in rows if int(float(r.get(STEP) or 0)) <= step]
        name = path.relative_to(live_dir / "plots" / "metrics").with_suffix("").as_posix()
        if kept:
            last[name] = float(kept[-1][path.stem])
        if len(kept) != len(rows):
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter="\t", lineterminator=os.linesep)
            writer.writeheader()
            writer.writerows(kept)
            atomic_write_text(path, buf.getvalue())
    for image in (live_dir / "plots" / "images").rglob("*.png"):
        if image.stem.isdigit() and int(image.stem) > step:
            image.unlink()
    return last


def _strip(gif_paths: list[Path], height: int = 64) -> np.ndarray:
    """GIFs -> one uint8 image: each GIF's frames side by side (scaled to ``height``), one row per GIF."""
    from PIL import Image, ImageSequence

    rows = []
    for path in gif_paths:
        with Image.open(path) as gif:
            frames = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
        scale = height / frames[0].height
        size = (max(1, round(frames[0].width * scale)), height)
        rows.append(np.concatenate([np.asarray(f.resize(size, Image.NEAREST)) for f in frames], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


class LiveLog:
    """dvclive logging for an Ignite trainer (+ evaluator); see the module doc for the files."""

    def __init__(self, run_dir: str | Path, *, live_dir: str = LIVE_DIR, snapshots: str | None = SNAPSHOTS_DIR):
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / live_dir
        self.snapshots = self.run_dir / snapshots if snapshots else None
        self.live = None
        self._trainer: Engine | None = None
        self._sums: dict[str, list[float]] = {}

    def attach(self, trainer: Engine, evaluator: Engine | None = None) -> None:
        self._trainer = trainer
        trainer.add_event_handler(Events.STARTED, self._started)
        trainer.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, self)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        trainer.add_event_handler(Events.COMPLETED | Events.TERMINATE, self._end)
        if evaluator is not None:
            evaluator.add_event_handler(Events.COMPLETED, self._val_completed)

    def _started(self, trainer: Engine) -> None:
        from dvclive import Live

        self._end(trainer)
        done = trainer.state.epoch  # completed epochs: > 0 when resuming
        last = truncate_after(self.dir, done) if done else {}
        self.dir.mkdir(parents=True, exist_ok=True)
        self.live = Live(dir=str(self.dir), resume=done > 0, save_dvc_exp=False, dvcyaml=False)
        if done:
            self.live.summary = {}
            for name, value in last.items():
                self._set_summary(name, value)
            self.live.step = done
            self.live.make_summary()
        # images after every other end-of-epoch handler (the snapshot GIFs are written by then)
        if not trainer.has_event_handler(self._log_images, Events.EPOCH_COMPLETED):
            trainer.add_event_handler(Events.EPOCH_COMPLETED, self._log_images)

    def _set_summary(self, name: str, value: float) -> None:
        node = self.live.summary
        *parents, leaf = name.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    def _epoch_started(self, trainer: Engine) -> None:
        self._sums = {}

    def __call__(self, trainer: Engine) -> None:
        out = trainer.state.output
        if not isinstance(out, dict):
            return
        for key, value in out.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                self._sums.setdefault(key, []).append(value)

    def _log(self, prefix: str, values: dict[str, float], step: int) -> None:
        if self.live is None or not values:
            return
        self.live.step = step
        for key, value in sorted(values.items()):
            self.live.log_metric(f"{prefix}/{key}", value)
        self.live.make_summary()

    def _epoch_completed(self, trainer: Engine) -> None:
        means = {k: sum(v) / len(v) for k, v in self._sums.items() if v}
        self._log("train", means, trainer.state.epoch)

    def _val_completed(self, evaluator: Engine) -> None:
        values = {k: float(v) for k, v in evaluator.state.metrics.items()
                  if isinstance(v, (int, float)) and math.isfinite(float(v))}
        self._log("val", values, self._trainer.state.epoch if self._trainer is not None else 0)

    def _log_images(self, trainer: Engine) -> None:
        folder = self.snapshots / f"epoch_{trainer.state.epoch:03d}" if self.snapshots else None
        if self.live is None or folder is None or not folder.is_dir():
            return
        for expected in sorted(folder.glob(f"*{EXPECTED_SUFFIX}")):
            stem = expected.name[: -len(EXPECTED_SUFFIX)]
            generated = gif_pair_paths(folder, stem)[1]
            if generated.is_file():
                self.live.step = trainer.state.epoch
                self.live.log_image(f"snapshots/{stem}/{trainer.state.epoch}.png", _strip([expected, generated]))

    def _end(self, trainer: Engine) -> None:
        if self.live is not None:
            self.live.end()
            self.live = None
