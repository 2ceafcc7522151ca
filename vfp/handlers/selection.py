"""Model selection: which epoch's weights are exported, chosen on the validation split.

Every validation (``engines.supervised.create_evaluator``) measures the model and copy-last on the
same clips; the score is ``gain_t1``, the PSNR gain over copy-last at t+1 (dB). An epoch is a
candidate when its phase may be exported (the recipe says: e.g. a GAN only exports epochs trained
with the adversary). Epoch 0, the starting point, is validated before the first update and is a
candidate when the untrained model IS copy-last (residual models with zero-initialised heads: its
largest pixel difference to copy-last is below :data:`SAME_AS_COPY_LAST`), so a run in which no
epoch beats copy-last exports copy-last's predictions instead of a worse model, and says so.

The best candidate's weights are kept by Ignite's :class:`~ignite.handlers.Checkpoint` with a
``score_function`` (file ``best_model_<epoch>_gain_t1=<dB>.pt``); the per-epoch history is a
checkpointed object, so a resumed run decides over every epoch, before and after the resume.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint

from vfp.handlers.checkpoint import best_files

SCORE = "gain_t1"
SAME_AS_COPY_LAST = 0.5  # grey levels (0-255): below this at every pixel, a model predicts copy-last


def choose(history: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The candidate with the highest gain (the earliest of equals) as a decision dict, or None.

    ``history`` rows: ``{epoch, phase, candidate, gain_t1, psnr_t1, copy_last_psnr_t1}``.
    """
    cands = [r for r in history if r.get("candidate") and math.isfinite(r.get(SCORE, math.nan))]
    if not cands:
        return None
    best = max(cands, key=lambda r: (r[SCORE], -r["epoch"]))
    beat = best[SCORE] > 0
    if best["epoch"] == 0:
        why = ("no epoch beat copy-last on the validation clips: exported the starting point, which predicts "
               f"exactly copy-last (best trained epoch: {_best_trained(cands)})")
    elif beat:
        why = (f"highest validation gain over copy-last at t+1 ({best[SCORE]:+.3f} dB) among "
               f"{len(cands)} candidate epochs")
    else:
        why = (f"no epoch beat copy-last on the validation clips; exported the least bad candidate "
               f"({best[SCORE]:+.3f} dB)")
    return {"epoch": best["epoch"], "phase": best["phase"], "val_gain_t1": best[SCORE],
            "val_psnr_t1": best.get("psnr_t1"), "val_copy_last_psnr_t1": best.get("copy_last_psnr_t1"),
            "beat_copy_last": beat, "why": why}


def _best_trained(cands: list[Mapping[str, Any]]) -> str:
    trained = [r for r in cands if r["epoch"] > 0]
    if not trained:
        return "none validated"
    r = max(trained, key=lambda r: r[SCORE])
    return f"epoch {r['epoch']} at {r[SCORE]:+.3f} dB"


class Selection:
    """Records every validation and keeps the best candidate's weights (see the module doc).

    ``phase_of(epoch) -> str`` names an epoch's training phase (``start`` for epoch 0);
    ``exportable(phase) -> bool`` says whether such an epoch may be exported.
    """

    def __init__(self, run_dir: str | Path, model, save_handler, *, phase_of: Callable[[int], str],
                 exportable: Callable[[str], bool], log: Callable[[str], None] = print,
                 ok_to_save: Callable[[], bool] = lambda: True):
        self.run_dir, self.log, self.ok_to_save = Path(run_dir), log, ok_to_save
        self.phase_of, self.exportable = phase_of, exportable
        self.history: list[dict[str, Any]] = []
        self.trainer: Engine | None = None
        self.best = Checkpoint({"model": model}, save_handler, n_saved=1,
                               filename_pattern="best_model_{global_step}_gain_t1={score}.pt",
                               score_function=lambda e: float(e.state.metrics[SCORE]), score_name=SCORE,
                               global_step_transform=lambda _e, _n: self.trainer.state.epoch)

    # checkpointed with the trainer (resume keeps the earlier epochs' record)
    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [dict(r) for r in state.get("history", [])]

    def attach(self, trainer: Engine, evaluator: Engine) -> None:
        self.trainer = trainer
        # continue with the best file already in the folder (after a resume; stale ones were moved away)
        self.best.load_state_dict({"_saved": [(s, p.name) for s, _, p in best_files(self.run_dir)]})
        evaluator.add_event_handler(Events.COMPLETED, self._record)

    def _record(self, evaluator: Engine) -> None:
        epoch, m = self.trainer.state.epoch, evaluator.state.metrics
        phase = self.phase_of(epoch) if epoch > 0 else "start"
        is_copy = float(m.get("copy_last_diff_t1", math.inf)) * 127.5 < SAME_AS_COPY_LAST
        candidate = self.exportable(phase) and (epoch > 0 or is_copy)
        row = {"epoch": epoch, "phase": phase, "candidate": candidate, SCORE: float(m[SCORE]),
               "psnr_t1": float(m["psnr_t1"]), "copy_last_psnr_t1": float(m["copy_last_psnr_t1"])}
        self.history = [r for r in self.history if r["epoch"] != epoch] + [row]
        if candidate and math.isfinite(row[SCORE]) and self.ok_to_save():
            self.best(evaluator)
        note = "" if candidate else f" (not a candidate: {self._why_not(phase, is_copy)})"
        self.log(f"epoch {epoch} [{phase}]: val psnr_t1 {row['psnr_t1']:.2f} dB, copy-last "
                 f"{row['copy_last_psnr_t1']:.2f} dB, gain {row[SCORE]:+.3f} dB{note}")

    def _why_not(self, phase: str, is_copy: bool) -> str:
        if not self.exportable(phase):
            return f"phase {phase} is not exported"
        return "the untrained model is not copy-last" if not is_copy else "?"

    def decision(self) -> dict[str, Any] | None:
        """:func:`choose` over the history, with the weights file (None when nothing was validated)."""
        chosen = choose(self.history)
        if chosen is None:
            return None
        files = {e: p for _, e, p in best_files(self.run_dir)}
        chosen["weights_file"] = str(files[chosen["epoch"]]) if chosen["epoch"] in files else None
        chosen["history"] = list(self.history)
        return chosen
