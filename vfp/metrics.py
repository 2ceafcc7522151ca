"""Per-frame, per-horizon-step metrics for next-frame prediction.

Conventions (all metrics are computed per frame, i.e. per clip and per horizon
step, never pooled across frames; averages are means of per-frame values):

* Inputs ``pred``/``target`` are model-space tensors in [-1, 1]
  (``[B, T, C, H, W]``); they are mapped back to pixels in [0, 255] with
  :func:`vfp.frames.to_pixels` (clamped) before any metric is computed.
* ``psnr``: ``10 * log10(255**2 / MSE_pixels)`` per frame (peak 255, as in
  Mathieu et al.), computed with torchmetrics'
  ``peak_signal_noise_ratio(..., data_range=255, dim=(1, 2, 3), reduction='none')``.
  Identical frames give +inf mathematically; every PSNR-like value is clamped
  to ``PSNR_CAP = 100.0`` dB so that averages stay finite.
* ``ssim``: torchmetrics SSIM, Gaussian window 11, sigma 1.5, ``data_range=255``
  on the pixel values, on frames reshaped to ``(B*T, C, H, W)`` (2-D SSIM, not
  volumetric). torchmetrics reflect-pads by 5, so frames need H, W >= 6.
* ``mse`` / ``mae``: on pixels scaled to [0, 1] (``pixels / 255``), i.e. per
  pixel on [0, 1] as many papers report them; note ``psnr == 10*log10(1/mse)``
  (up to the cap).
* ``sharp_diff``: sharpness difference of Mathieu et al. (2016),
  ``10*log10(255**2 / ((1/N) * sum |(|dx(true)|+|dy(true)|) - (|dx(pred)|+|dy(pred)|)|))``
  on pixel values, where ``dx``/``dy`` are forward differences cropped to the
  common ``(H-1, W-1)`` region and ``N = C*(H-1)*(W-1)``. Identical gradients
  give +inf, clamped to ``PSNR_CAP``.
* Moving pixels: pixel ``(h, w)`` of step ``t`` is *moving* when the TRUE frames
  change there, ``|target_t - target_{t-1}| > moving_threshold`` (pixel units,
  0..255) in any channel, with ``target_{-1} = last_input``. Default threshold
  ``MOVING_THRESHOLD = 10.0``. ``psnr_moving`` / ``mse_moving`` / ``mae_moving``
  use only moving pixels (all channels at those positions), same scales as
  above. A step with no moving pixel gives NaN; :class:`MetricAccumulator`
  and the ``*_mean`` values skip NaN.
* Means over the horizon (``*_mean``) are the mean over steps of the per-step
  means (steps whose value is NaN are skipped).
* Gains are ``model - copy_last`` for every metric, without flipping the sign
  for lower-is-better metrics (mse, mae: a negative gain is an improvement).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
from einops import rearrange
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from vfp.frames import to_pixels
from vfp.fileio import atomic_write_text

__all__ = [
    "PSNR_CAP",
    "MOVING_THRESHOLD",
    "PEAK",
    "METRIC_NAMES",
    "psnr_frames",
    "ssim_frames",
    "sharp_diff_frames",
    "moving_mask",
    "per_step_metrics",
    "copy_last_prediction",
    "MetricAccumulator",
    "flat_metrics",
    "per_step_rows",
    "write_rows_csv",
]

PSNR_CAP = 100.0
MOVING_THRESHOLD = 10.0
PEAK = 255.0
SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
_EPS = 1e-12

METRIC_NAMES: tuple[str, ...] = (
    "psnr",
    "ssim",
    "mse",
    "mae",
    "sharp_diff",
    "psnr_moving",
    "mse_moving",
    "mae_moving",
)


def _cap(db: torch.Tensor) -> torch.Tensor:
    """Clamp dB values to PSNR_CAP (also maps +inf to the cap), keep NaN."""
    return torch.clamp(db, max=PSNR_CAP)


def psnr_frames(pred_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """PSNR per frame for pixel tensors ``[N, C, H, W]`` in [0, 255] -> ``[N]``."""
    val = peak_signal_noise_ratio(
        pred_px.double(), target_px.double(), data_range=PEAK, dim=(1, 2, 3), reduction="none"
    )
    return _cap(val).float()


def ssim_frames(pred_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """2-D SSIM per frame for pixel tensors ``[N, C, H, W]`` in [0, 255] -> ``[N]``."""
    val = structural_similarity_index_measure(
        pred_px.float(),
        target_px.float(),
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_KERNEL,
        data_range=PEAK,
        reduction="none",
    )
    return val.reshape(-1).float()


def _grad_sum(x: torch.Tensor) -> torch.Tensor:
    dx = (x[..., :-1, 1:] - x[..., :-1, :-1]).abs()
    dy = (x[..., 1:, :-1] - x[..., :-1, :-1]).abs()
    return dx + dy


def sharp_diff_frames(pred_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """Mathieu et al. sharpness difference per frame (pixels ``[N, C, H, W]``) -> ``[N]``."""
    diff = (_grad_sum(target_px.double()) - _grad_sum(pred_px.double())).abs()
    mean = diff.flatten(1).mean(dim=1)
    val = 10.0 * torch.log10(PEAK**2 / mean)  # mean == 0 -> +inf -> capped
    return _cap(val).float()


def moving_mask(
    target: torch.Tensor, last_input: torch.Tensor, moving_threshold: float = MOVING_THRESHOLD
) -> torch.Tensor:
    """Boolean mask ``[B, T, 1, H, W]`` of pixels where the true frames change.

    ``target`` is ``[B, T, C, H, W]`` and ``last_input`` ``[B, C, H, W]`` in [-1, 1].
    """
    tp = to_pixels(target)
    prev = torch.cat([to_pixels(last_input).unsqueeze(1), tp[:, :-1]], dim=1)
    return ((tp - prev).abs() > moving_threshold).any(dim=2, keepdim=True)


def copy_last_prediction(last_input: torch.Tensor, steps: int) -> torch.Tensor:
    """The copy-last baseline: ``last_input [B, C, H, W]`` repeated -> ``[B, steps, C, H, W]``."""
    return last_input.unsqueeze(1).expand(-1, steps, *last_input.shape[1:]).contiguous()


@torch.no_grad()
def per_step_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    last_input: torch.Tensor,
    moving_threshold: float = MOVING_THRESHOLD,
) -> dict[str, torch.Tensor]:
    """All metrics per clip and per horizon step.

    Args:
        pred, target: ``[B, T, C, H, W]`` in [-1, 1] (any device).
        last_input: ``[B, C, H, W]`` in [-1, 1], the last context frame (used for
            the moving-pixel mask of step 1).
        moving_threshold: pixel-unit (0..255) threshold of the moving mask.

    Returns:
        ``dict name -> float32 CPU tensor [B, T]`` for every name in ``METRIC_NAMES``.
        Moving metrics are NaN for steps without moving pixels.
    """
    if pred.shape != target.shape or pred.dim() != 5:
        raise ValueError(f"pred/target must both be [B,T,C,H,W], got {tuple(pred.shape)} / {tuple(target.shape)}")
    if last_input.shape != (target.shape[0], *target.shape[2:]):
        raise ValueError(f"last_input must be [B,C,H,W] matching target, got {tuple(last_input.shape)}")
    b, t = target.shape[:2]
    pred_px = to_pixels(pred.detach()).float()
    target_px = to_pixels(target.detach()).float()

    flat_p = rearrange(pred_px, "b t c h w -> (b t) c h w")
    flat_t = rearrange(target_px, "b t c h w -> (b t) c h w")

    def unflat(v: torch.Tensor) -> torch.Tensor:
        return rearrange(v, "(b t) -> b t", b=b, t=t).float().cpu()

    out: dict[str, torch.Tensor] = {}
    out["psnr"] = unflat(psnr_frames(flat_p, flat_t))
    out["ssim"] = unflat(ssim_frames(flat_p, flat_t))
    err = (pred_px.double() - target_px.double()) / PEAK  # [0,1]-scaled error
    out["mse"] = err.pow(2).flatten(2).mean(dim=2).float().cpu()
    out["mae"] = err.abs().flatten(2).mean(dim=2).float().cpu()
    out["sharp_diff"] = unflat(sharp_diff_frames(flat_p, flat_t))

    mask = moving_mask(target.detach(), last_input.detach(), moving_threshold)  # [B,T,1,H,W]
    mask = mask.expand_as(err)
    count = mask.flatten(2).sum(dim=2).double()  # elements (pixels * channels)
    sq = (err.pow(2) * mask).flatten(2).sum(dim=2)
    ab = (err.abs() * mask).flatten(2).sum(dim=2)
    nan = torch.full_like(count, float("nan"))
    has = count > 0
    mse_m = torch.where(has, sq / count.clamp(min=1), nan)
    mae_m = torch.where(has, ab / count.clamp(min=1), nan)
    # mse_m is on [0,1] scale, so PSNR = 10*log10(1/mse); mse 0 -> inf -> capped, NaN stays NaN
    psnr_m = _cap(10.0 * torch.log10(1.0 / mse_m))
    out["mse_moving"] = mse_m.float().cpu()
    out["mae_moving"] = mae_m.float().cpu()
    out["psnr_moving"] = psnr_m.float().cpu()
    return {k: out[k] for k in METRIC_NAMES}


class MetricAccumulator:
    """Accumulates per-step sums and counts over batches, skipping NaN values.

    ``update(per_step_metrics(...))`` for every batch, then ``per_step()`` gives
    ``dict name -> list[float]`` (one value per horizon step, NaN when a step had
    no valid value) and ``means()`` gives ``dict name -> float`` (mean over steps
    of the per-step means, NaN steps skipped).
    """

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, torch.Tensor] = {}

    def update(self, metrics: Mapping[str, torch.Tensor]) -> None:
        for name, val in metrics.items():
            v = val.detach().double().cpu()
            if v.dim() == 1:
                v = v.unsqueeze(0)
            valid = ~torch.isnan(v)
            s = torch.where(valid, v, torch.zeros_like(v)).sum(dim=0)
            c = valid.sum(dim=0).double()
            if name in self._sums:
                if self._sums[name].shape != s.shape:
                    raise ValueError(f"metric {name!r}: horizon changed from {self._sums[name].numel()} to {s.numel()}")
                self._sums[name] += s
                self._counts[name] += c
            else:
                self._sums[name] = s
                self._counts[name] = c

    @property
    def names(self) -> list[str]:
        return list(self._sums)

    def per_step(self) -> dict[str, list[float]]:
        res: dict[str, list[float]] = {}
        for name, s in self._sums.items():
            c = self._counts[name]
            res[name] = [float(si / ci) if ci > 0 else float("nan") for si, ci in zip(s.tolist(), c.tolist())]
        return res

    def means(self) -> dict[str, float]:
        return {name: _nanmean(vals) for name, vals in self.per_step().items()}

    def counts(self) -> dict[str, list[int]]:
        return {name: [int(c) for c in cs.tolist()] for name, cs in self._counts.items()}


def _nanmean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else float("nan")


def _round(v: float | None, ndigits: int = 4) -> float | None:
    """Round for reporting; NaN/None become None (JSON null)."""
    if v is None or math.isnan(v):
        return None
    return round(float(v), ndigits)


def flat_metrics(
    model_steps: Mapping[str, Sequence[float]], copy_steps: Mapping[str, Sequence[float]]
) -> dict[str, float | None]:
    """Flat DVC metric dict from per-step lists of the model and of copy-last.

    Keys, for every metric name ``m`` present in ``model_steps`` and steps k=1..T:
    ``m_t{k}``, ``m_mean``, ``copy_last_m_t{k}``, ``copy_last_m_mean``,
    ``m_gain_t{k}``, ``m_gain_mean`` (gain = model - copy_last). Values are
    rounded to 4 decimals; an undefined value (NaN, e.g. a moving metric with
    no moving pixel) is reported as ``None``.
    """
    flat: dict[str, float | None] = {}
    for name, mvals in model_steps.items():
        if name not in copy_steps:
            raise KeyError(f"metric {name!r} missing from copy_steps")
        cvals = list(copy_steps[name])
        mvals = list(mvals)
        if len(cvals) != len(mvals):
            raise ValueError(f"metric {name!r}: model has {len(mvals)} steps, copy_last {len(cvals)}")
        gains = [m - c for m, c in zip(mvals, cvals)]
        for k, v in enumerate(mvals, 1):
            flat[f"{name}_t{k}"] = _round(v)
        flat[f"{name}_mean"] = _round(_nanmean(mvals))
        for k, v in enumerate(cvals, 1):
            flat[f"copy_last_{name}_t{k}"] = _round(v)
        flat[f"copy_last_{name}_mean"] = _round(_nanmean(cvals))
        for k, v in enumerate(gains, 1):
            flat[f"{name}_gain_t{k}"] = _round(v)
        # mean gain = mean(model) - mean(copy) (over steps where each is defined)
        mm, cm = _nanmean(mvals), _nanmean(cvals)
        flat[f"{name}_gain_mean"] = _round(mm - cm)
    return flat


def per_step_rows(
    model_steps: Mapping[str, Sequence[float]],
    copy_steps: Mapping[str, Sequence[float]],
    model_name: str | None = None,
) -> list[dict]:
    """Wide rows for a DVC plots CSV, one per horizon step (``step`` is 1-based).

    Each row: ``{"step": k, ["model": model_name,] m: ..., "copy_last_m": ...,
    "m_gain": ...}`` for every metric ``m``. Plot model vs copy-last on one chart
    with a top-level ``dvc.yaml`` plot, e.g.::

        plots:
          - psnr_vs_step:
              x: step
              y:
                metrics/per_step.csv: [psnr, copy_last_psnr]

    Undefined values are written as empty cells.
    """
    names = list(model_steps)
    n = len(next(iter(model_steps.values()))) if names else 0
    rows: list[dict] = []
    for i in range(n):
        row: dict = {"step": i + 1}
        if model_name is not None:
            row["model"] = model_name
        for name in names:
            m = model_steps[name][i]
            c = copy_steps[name][i]
            row[name] = _round(m)
            row[f"copy_last_{name}"] = _round(c)
            row[f"{name}_gain"] = _round(m - c)
        rows.append(row)
    return rows


def write_rows_csv(rows: Sequence[Mapping], path: str | os.PathLike) -> Path:
    """Write rows (e.g. from :func:`per_step_rows`) to CSV atomically; None -> empty cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for r in rows:
        for k in r:
            if k not in fields:
                fields.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    atomic_write_text(path, buf.getvalue())
    return path
