"""Model selection: which epoch's weights are exported, chosen on the validation split.

Every validation (:func:`vfp.engines.validation.create_evaluator`) measures the model and both baselines,
copy-last and flow, on the same clips; the score is ``gain_best_t1``, the PSNR gain at t+1 (dB) over the
stronger of the two. An epoch is a candidate when its phase may be exported (the recipe says: e.g. a GAN
only exports epochs trained with the adversary). Epoch 0, the starting point, is validated before the
first update and is a candidate when the untrained model predicts exactly one of the baselines (a
residual model on its base: its largest pixel difference to that baseline's prediction is below
:data:`SAME_AS`), so a run in which no epoch beats the stronger baseline exports the start instead of a
worse model, and says so. The decision also says plainly whether any epoch beat flow, and whether the
model ever left its start (an epoch whose predictions are still exactly the start's baseline did not).

The best candidate's weights are kept by Ignite's :class:`~ignite.handlers.Checkpoint` with a
``score_function`` (file ``best_model_<epoch>_gain_best_t1=<dB>.pt``); the per-epoch history is a
checkpointed object, so a resumed run decides over every epoch, before and after the resume.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint

from vfp.keys import COPY_LAST, DIFF, FLOW, LABELS, Val, at, of
from vfp.runs import BEST_PATTERN, best_files

SCORE = Val.GAIN_BEST_T1.value
GAIN_T1, GAIN_FLOW_T1 = Val.GAIN_T1.value, Val.GAIN_FLOW_T1.value
PSNR_T1, COPY_PSNR_T1, FLOW_PSNR_T1 = Val.PSNR_T1.value, Val.COPY_LAST_PSNR_T1.value, Val.FLOW_PSNR_T1.value
ROW_KEYS = (SCORE, GAIN_T1, GAIN_FLOW_T1, PSNR_T1, COPY_PSNR_T1, FLOW_PSNR_T1)  # recorded per validated epoch
SAME_AS = 0.5  # grey levels (0-255): below this at every pixel, a model predicts exactly that baseline


def same_as(metrics: Mapping[str, float]) -> str | None:
    """The baseline (copy-last or flow) whose t+1 prediction the model reproduced on every validation pixel."""
    for name in (COPY_LAST, FLOW):
        if float(metrics.get(at(of(name, DIFF), 1), math.inf)) < SAME_AS:
            return name
    return None


def _stronger(row: Mapping[str, Any]) -> str:
    return FLOW if row.get(FLOW_PSNR_T1, -math.inf) > row.get(COPY_PSNR_T1, -math.inf) else COPY_LAST


def verdicts(history: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``{beat_flow, beat_copy_last, left_start, verdict}`` over every validated trained epoch: did any beat
    flow / copy-last at t+1, did any predict something else than the start's baseline; ``verdict``: the
    plain sentences to print (empty when the model beat both and left its start)."""
    trained = [r for r in history if r["epoch"] > 0]
    start = next((r for r in history if r["epoch"] == 0), None)
    base = start.get("same_as") if start else None
    if start is None and trained and len({r.get("same_as") for r in trained}) == 1:
        base = trained[0].get("same_as")
    out: dict[str, Any] = {"beat_flow": None, "beat_copy_last": None, "left_start": None, "verdict": []}
    if not trained:
        return out
    best = max(trained, key=lambda r: r.get(GAIN_FLOW_T1, -math.inf))
    out["beat_flow"] = best.get(GAIN_FLOW_T1, -math.inf) > 0
    out["beat_copy_last"] = any(r.get(GAIN_T1, -math.inf) > 0 for r in trained)
    out["left_start"] = base is None or any(r.get("same_as") != base for r in trained)
    if not out["beat_flow"] and GAIN_FLOW_T1 in best:
        out["verdict"].append(f"no epoch beat flow on the validation clips (closest: epoch {best['epoch']} at "
                              f"{best[GAIN_FLOW_T1]:+.3f} dB at t+1)")
    if not out["left_start"]:
        out["verdict"].append(f"the model never left its start: every trained epoch predicts exactly "
                              f"{LABELS[base]} (its training changed nothing it predicts)")
    return out


def choose(history: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The candidate with the highest gain (the earliest of equals) as a decision dict, or None.

    ``history`` rows: ``{epoch, phase, candidate, same_as, gain_best_t1, gain_t1, gain_flow_t1, psnr_t1,
    copy_last_psnr_t1, flow_psnr_t1}``.
    """
    cands = [r for r in history if r.get("candidate") and math.isfinite(r.get(SCORE, math.nan))]
    if not cands:
        return None
    best = max(cands, key=lambda r: (r[SCORE], -r["epoch"]))
    strong = LABELS[_stronger(best)]
    if best["epoch"] == 0:
        why = (f"no epoch beat the stronger baseline ({strong}) on the validation clips: exported the starting "
               f"point, which predicts exactly {LABELS.get(best.get('same_as'), '?')} "
               f"(best trained epoch: {_best_trained(cands)})")
    elif best[SCORE] > 0:
        why = (f"highest validation gain over the stronger baseline ({strong}) at t+1 ({best[SCORE]:+.3f} dB) "
               f"among {len(cands)} candidate epochs")
    else:
        why = (f"no epoch beat the stronger baseline ({strong}) on the validation clips; exported the least bad "
               f"candidate ({best[SCORE]:+.3f} dB)")
    said = verdicts(history)
    return {"epoch": best["epoch"], "phase": best["phase"], **{f"val_{k}": best.get(k) for k in ROW_KEYS},
            "stronger_baseline": _stronger(best),
            **said, "why": "; ".join([why, *said["verdict"]])}


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
                               filename_pattern=BEST_PATTERN,
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
        same = same_as(m)
        candidate = same is not None if epoch == 0 else self.exportable(phase)
        row = {"epoch": epoch, "phase": phase, "candidate": candidate, "same_as": same,
               **{k: float(m[k]) for k in ROW_KEYS if k in m}}
        self.history = [r for r in self.history if r["epoch"] != epoch] + [row]
        if candidate and math.isfinite(row[SCORE]) and self.ok_to_save():
            self.best(evaluator)
        note = "" if candidate else f" (not a candidate: {self._why_not(phase)})"
        same_text = f"; predicts exactly {LABELS[same]}" if same else ""
        self.log(f"epoch {epoch} [{phase}]: val psnr_t1 {row[PSNR_T1]:.2f} dB, copy-last "
                 f"{row[COPY_PSNR_T1]:.2f} dB, flow {row.get(FLOW_PSNR_T1, math.nan):.2f} dB, gain over "
                 f"the stronger ({LABELS[_stronger(row)]}) {row[SCORE]:+.3f} dB{same_text}{note}")

    def _why_not(self, phase: str) -> str:
        if phase == "start":
            return "the untrained model predicts neither baseline exactly"
        return f"phase {phase} is not exported"

    def decision(self) -> dict[str, Any] | None:
        """:func:`choose` over the history, with the weights file (None when nothing was validated)."""
        chosen = choose(self.history)
        if chosen is None:
            return None
        files = {e: p for _, e, p in best_files(self.run_dir)}
        chosen["weights_file"] = str(files[chosen["epoch"]]) if chosen["epoch"] in files else None
        chosen["history"] = list(self.history)
        return chosen
