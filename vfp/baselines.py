"""Non-learned baselines scored beside every model, the per-clip masks, and their cache.

* ``copy_last``: the last context frame repeated.
* ``flow``: constant-velocity optical-flow extrapolation (:func:`vfp.flow.extrapolate`, with the
  ``flow.method`` of params.yaml: Farneback or DIS). Flow ``G`` from the last context frame to the one
  before (``last(p) ~ prev(p + G(p))``), so the motion at ``p`` is ``-G(p)`` and step ``k`` is ``last``
  warped backward by ``k * G``: ``pred_k(p) = last(p + k G(p))`` (bilinear, border repeated). On a pure
  translation by ``s`` pixels per frame ``G = -s`` and ``pred_1`` is the next frame. A model on the
  ``flow`` base (:mod:`vfp.models.base`) starts from exactly this prediction.

Per clip the evaluation also needs the moving-area mask (``evaluate.mask``: ``difference`` = true
frames change by more than ``moving_threshold`` grey levels; ``flow`` = Farneback flow from the last
context frame to the target frame longer than ``flow_threshold`` pixels: the protocol's mask, Farneback
whatever ``flow.method`` says, so the moving area stays the same when the baseline's method changes) and
``keep`` (frames that
copy-last reproduces below ``skip_above_db``; the others are left out of moving-area metrics).
All of it depends on the test clips, the protocol and the flow method only, never on the model: :class:`BaselineCache`
stores it once per (test clips, protocol, size) and every later evaluation reuses it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from vfp import flow as fl
from vfp.fileio import atomic_save, warn
from vfp.frames import to_pixels
from vfp.keys import BASELINES, COPY_LAST, FLOW, LABELS
from vfp.metrics import copy_last_prediction, moving_mask, per_step_metrics, psnr_frames

__all__ = ["COPY_LAST", "FLOW", "NAMES", "LABELS", "CACHE_VERSION", "copy_last", "flow_extrapolation",
           "predictors", "clip_masks", "baseline_batch", "cache_key", "BaselineCache"]

NAMES = BASELINES  # the first one is the primary baseline (plain ``*_gain_*`` keys)
CACHE_VERSION = 2  # 2: one warp for baseline and models (exact at zero flow), flow.method


def copy_last(context: torch.Tensor, horizon: int) -> torch.Tensor:
    """``context [B, T, C, H, W]`` in [-1, 1] -> ``[B, horizon, C, H, W]``: the last frame repeated."""
    return copy_last_prediction(context[:, -1], horizon)


def flow_extrapolation(context: torch.Tensor, horizon: int, method: str = "farneback",
                       preset: str = "medium") -> torch.Tensor:
    """Constant-velocity flow extrapolation of the last two context frames (see the module doc)."""
    return fl.extrapolate(context, horizon, method, preset)


def predictors(method: str = "farneback",
               preset: str = "medium") -> dict[str, Callable[[torch.Tensor, int], torch.Tensor]]:
    """``{baseline name: predict(context, horizon)}`` with the flow baseline on ``method`` (``preset``: DIS)."""
    return {COPY_LAST: copy_last, FLOW: lambda context, horizon: flow_extrapolation(context, horizon, method, preset)}


def clip_masks(context: torch.Tensor, target: torch.Tensor, ev: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask [B, T, 1, H, W] bool, keep [B, T] bool)`` for ``ev`` (evaluate settings: ``mask``,
    ``moving_threshold``, ``flow_threshold``, ``skip_above_db``; 0 = keep every frame)."""
    b, t = target.shape[:2]
    last = context[:, -1]
    if ev.mask == "flow":
        last_px = to_pixels(last).unsqueeze(1).expand_as(target).flatten(0, 1)
        f = fl.flow(last_px, to_pixels(target).flatten(0, 1))
        mask = (fl.magnitude(f) > ev.flow_threshold).view(b, t, 1, *target.shape[-2:])
    else:
        mask = moving_mask(target, last, ev.moving_threshold)
    keep = torch.ones(b, t, dtype=torch.bool)
    if ev.skip_above_db > 0:
        rep = to_pixels(last).unsqueeze(1).expand_as(target).flatten(0, 1)
        keep = (psnr_frames(rep, to_pixels(target).flatten(0, 1)) < ev.skip_above_db).view(b, t).cpu()
    return mask, keep


def baseline_batch(context: torch.Tensor, target: torch.Tensor, ev: Any, flow_cfg: Any = None) -> dict[str, Any]:
    """Masks and every baseline's per-frame statistics for one batch:
    ``{"mask", "keep", "stats": {baseline: {stat: [B, T]}}}``; ``flow_cfg``: ``method`` and ``preset``
    of the flow baseline (None: Farneback)."""
    mask, keep = clip_masks(context, target, ev)
    horizon, last = target.shape[1], context[:, -1]
    stats = {name: per_step_metrics(pred(context, horizon), target, last, mask=mask, keep=keep,
                                    ssim_luma=ev.ssim == "luma")
             for name, pred in predictors(*_method(flow_cfg)).items()}
    return {"mask": mask, "keep": keep, "stats": stats}


def _method(flow_cfg: Any) -> tuple[str, str]:
    return ("farneback", "medium") if flow_cfg is None else (flow_cfg.method, flow_cfg.preset)


def cache_key(parts: Mapping[str, Any], flow_cfg: Any = None) -> str:
    """Stable hash of everything the baselines depend on (test clips, protocol, size, flow method and its
    parameters, code version); the mask's Farneback parameters are part of it too."""
    blob = json.dumps({"version": CACHE_VERSION, "farneback": fl.FARNEBACK, "flow": fl.settings_key(*_method(flow_cfg)),
                       **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class BaselineCache:
    """Per-clip baseline records in ``<folder>/<key>.pt`` (``folder`` None: in memory only)."""

    def __init__(self, folder: Path | None, key: str):
        self.path = Path(folder) / f"{key}.pt" if folder else None
        self.clips: dict[str, dict] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            try:
                self.clips = dict(torch.load(self.path, weights_only=True).get("clips", {}))
            except Exception as err:  # noqa: BLE001 - a damaged cache is recomputed, never trusted
                warn(f"{self.path}: unreadable baseline cache ({str(err).splitlines()[0][:80]}); recomputing")

    def lookup(self, keys: Sequence[str]) -> dict[str, Any] | None:
        """The batch record for ``keys`` (all cached) or None."""
        recs = [self.clips.get(k) for k in keys]
        if not keys or any(r is None for r in recs):
            return None
        shape = recs[0]["mask_shape"]
        mask = np.stack([np.unpackbits(r["mask"].numpy(), count=int(np.prod(shape))) for r in recs])
        stats = {name: {s: torch.stack([r["stats"][name][s] for r in recs]) for s in recs[0]["stats"][name]}
                 for name in recs[0]["stats"]}
        return {"mask": torch.from_numpy(mask.astype(bool)).view(len(recs), *shape),
                "keep": torch.stack([r["keep"] for r in recs]), "stats": stats}

    def store(self, keys: Sequence[str], rec: Mapping[str, Any]) -> None:
        mask = rec["mask"].cpu()
        for i, k in enumerate(keys):
            self.clips[k] = {"mask": torch.from_numpy(np.packbits(mask[i].numpy().reshape(-1))),
                             "mask_shape": list(mask.shape[1:]), "keep": rec["keep"][i].clone(),
                             "stats": {n: {s: v[i].clone() for s, v in st.items()} for n, st in rec["stats"].items()}}
        self.dirty = True

    def save(self) -> None:
        if self.path is not None and self.dirty:
            atomic_save(self.path, {"version": CACHE_VERSION, "clips": self.clips})
            self.dirty = False
