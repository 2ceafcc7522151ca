"""A run's model file: the selected epoch's weights (:mod:`vfp.handlers.selection`) written as ``model.pt``
(:mod:`vfp.modelio`), with ``logs/summary.json`` saying which epoch and why."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from torch import nn

from vfp.config import Config
from vfp.handlers.checkpoint import load_weights, write_json_atomic
from vfp.handlers.selection import Selection, verdicts
from vfp.modelio import save_trained
from vfp.models.base import predictor_from_config
from vfp.runs import BEST_PATTERN, RunLayout
from vfp.schema import as_kwargs


def data_meta(cfg: Config) -> dict:
    """Frame size and interval the model was trained at (``vfp predict`` reads them)."""
    size = cfg.data.size if cfg.data.size == "source" else list(cfg.data.size)
    return {"size": size, "interval": cfg.data.interval}


def export_untrained(cfg: Config, layout: RunLayout, model: nn.Module, *, write: bool) -> dict[str, Any]:
    """A model whose recipe trains nothing (baselines): its model file, as built (``write``: this process writes)."""
    section = cfg.model_section()
    if write:
        save_trained(layout.model_file, cfg.model, as_kwargs(section.net), model, n_output=section.n_output,
                     extra=data_meta(cfg))
    return {"model": cfg.model, "trained": False, "model_path": str(layout.model_file)}


def selected_weights(model: nn.Module, epoch: int, selection: Selection, load: bool) -> tuple[dict, dict]:
    """``(state_dict, selection summary)``: the selected epoch's weights (``load``: read them; else {}), else
    the last epoch's (said why); a selected epoch whose file is missing or damaged is a one-line error,
    never another epoch's weights."""
    chosen = selection.decision()
    if chosen is not None:
        file = chosen.get("weights_file") or selection.run_dir / BEST_PATTERN.format(global_step=chosen["epoch"],
                                                                                     score="*")
        weights = load_weights(Path(file), f"the selected epoch's ({chosen['epoch']}) weights") if load else {}
        return weights, chosen
    last_phase = selection.phase_of(epoch) if epoch else "start"
    why = ("no validation data: exported the last epoch" if chosen is None and not selection.history else
           "no validated epoch may be exported (see history): exported the last epoch")
    return model.state_dict(), {"epoch": epoch, "phase": last_phase, **verdicts(selection.history),
                                "why": why, "weights_file": None, "history": list(selection.history)}


def export_selected(cfg: Config, layout: RunLayout, model: nn.Module, epoch: int, selection: Selection,
                    summary: dict[str, Any], *, write: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Write ``model.pt`` from the selected epoch's weights and the run's summary (``write``: this process
    writes); return the summary with the selection added."""
    weights, chosen = selected_weights(model, epoch, selection, load=write)
    source = Path(chosen["weights_file"]).name if chosen.get("weights_file") else "last"
    say(f"exporting epoch {chosen['epoch']} [{chosen['phase']}]: {chosen['why']}")
    summary.update(selected=chosen, exported_epoch=chosen["epoch"], exported_phase=chosen["phase"],
                   beat_copy_last=chosen["beat_copy_last"], beat_flow=chosen["beat_flow"],
                   left_start=chosen["left_start"], weights=source, model_path=str(layout.model_file))
    for line in chosen["verdict"]:  # said plainly, apart from the why: no epoch beat flow / never left its start
        say(line)
    if write:
        section = cfg.model_section()
        final = predictor_from_config(cfg)
        final.load_state_dict(weights)
        save_trained(layout.model_file, cfg.model, as_kwargs(section.net), final, n_output=section.n_output,
                     extra={"epoch": chosen["epoch"], "phase": chosen["phase"], "weights": source, **data_meta(cfg)})
        write_json_atomic(layout.summary, summary)
        say(f"wrote {layout.model_file} ({source} weights)")
    return summary
