"""Model files (``model.pt`` of a run, :class:`vfp.runs.RunLayout`), written by training, read by evaluate and
``vfp predict``.

Format ``vfp-model/1``: a dict ``{"format", "model", "module", "net", "state_dict", "n_input", "n_output", ...}``
(plus ``size`` / ``interval`` the model was trained at, and any extra keys training adds).
Loading rebuilds the model through the registry by name, so inference never imports training.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from vfp.engines.common import unwrap
from vfp.errors import VfpError
from vfp.fileio import atomic_save, zip_damage
from vfp.models.base import base_meta, build_predictor, predictor_from_config
from vfp.models.registry import REGISTRY, get_spec, load_plugins

MODEL_FORMAT = "vfp-model/1"

__all__ = ["MODEL_FORMAT", "load_trained", "load_untrained", "save_trained"]


def save_trained(path: Path, name: str, net: Mapping[str, Any], model: nn.Module, *,
                 n_output: int, extra: Mapping[str, Any] | None = None) -> Path:
    """Write the evaluation file atomically: ``{"format", "model", "net", "base", "state_dict", "n_input", ...}``
    (``base``/``flow``: the prediction the model corrects, :mod:`vfp.models.base`)."""
    plain = unwrap(model)
    module = REGISTRY[name].module if name in REGISTRY else type(plain).__module__
    data = {"format": MODEL_FORMAT, "model": name, "module": module, "net": dict(net),
            "state_dict": {k: v.detach().cpu() for k, v in plain.state_dict().items()},
            "n_input": int(plain.n_input), "n_output": int(n_output), **base_meta(plain), **dict(extra or {})}
    return atomic_save(Path(path), data)


def _read(path: Path, map_location: str | torch.device) -> Mapping[str, Any]:
    if not path.is_file():
        raise VfpError(f"{path}: no such model file; run the train stage first")
    damage = zip_damage(path)
    if damage is not None:
        raise VfpError(f"{path}: damaged model file ({damage}); run the train stage again (dvc repro "
                       "rewrites it from the run's selected weights)")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise VfpError(f"{path}: not a vfp model file ({str(err).splitlines()[0][:100]})") from None
    if not isinstance(data, Mapping) or data.get("format") != MODEL_FORMAT:
        raise VfpError(f"{path}: not a vfp model file (written by vfp train as models/<model>/model.pt)")
    return data


def load_trained(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[str, nn.Module]:
    """``model.pt`` -> ``(model name, model in eval mode)``; one-line VfpError for anything else."""
    path = Path(path)
    data = _read(path, map_location)
    if data.get("model") not in REGISTRY and isinstance(data.get("module"), str):
        load_plugins([data["module"]])  # a plugin model: its module registers it (vfp predict without params)
    try:
        model = build_predictor(data["model"], data["net"], data.get("base"), data.get("flow"))
        model.load_state_dict(data["state_dict"])
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise VfpError(f"{path}: model file does not match model {data.get('model')!r} "
                       f"({str(err).splitlines()[0][:100]})") from None
    return data["model"], model.eval()


def load_untrained(cfg: Any) -> nn.Module | None:
    """The selected model built from its params section when its recipe trains nothing (else None)."""
    if get_spec(cfg.model).section.trains:
        return None
    return predictor_from_config(cfg).eval()
