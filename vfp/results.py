"""The test results as files and lines: flat DVC metrics, per-step CSV rows and the console summary.

Keys (:mod:`vfp.keys`): for every metric ``m`` and step ``k``: ``m_t{k}``, ``m_mean``; for each baseline
``b``: ``b_m_t{k}``, ``b_m_mean`` and the gain ``model - b`` as ``m_gain_t{k}`` / ``m_gain_mean`` for the
first (primary) baseline and ``m_gain_<b>_t{k}`` / ``m_gain_<b>_mean`` for the others. Values are rounded to
4 decimals; undefined ones (NaN) are ``null`` in JSON and empty cells in CSV.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from vfp import keys
from vfp.fileio import atomic_write_text

Steps = Mapping[str, Sequence[float]]  # metric -> value per horizon step


def _nanmean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else float("nan")


def _round(v: float | None, ndigits: int = 4) -> float | None:
    """Round for reporting; NaN/None become None (JSON null)."""
    if v is None or math.isnan(v):
        return None
    return round(float(v), ndigits)


def _steps_of(flat: dict, name: str, values: Sequence[float]) -> None:
    for k, v in enumerate(values, 1):
        flat[keys.at(name, k)] = _round(v)
    flat[keys.at(name)] = _round(_nanmean(values))


def flat_metrics(model_steps: Steps, baselines: Mapping[str, Steps]) -> dict[str, float | None]:
    """Flat DVC metric dict from per-step lists of the model and of each baseline (see the module doc;
    the first baseline of ``baselines`` is the primary one)."""
    flat: dict[str, float | None] = {}
    for name, mvals in model_steps.items():
        _steps_of(flat, name, list(mvals))
    for i, (base, steps) in enumerate(baselines.items()):
        for name, mvals in model_steps.items():
            if name not in steps:
                raise KeyError(f"metric {name!r} missing from baseline {base!r}")
            bvals, mvals = list(steps[name]), list(mvals)
            if len(bvals) != len(mvals):
                raise ValueError(f"metric {name!r}: model has {len(mvals)} steps, {base} {len(bvals)}")
            _steps_of(flat, keys.of(base, name), bvals)
            gain = keys.gain(name, base, primary=i == 0)
            for k, (m, c) in enumerate(zip(mvals, bvals), 1):
                flat[keys.at(gain, k)] = _round(m - c)
            flat[keys.at(gain)] = _round(_nanmean(mvals) - _nanmean(bvals))
    return flat


def per_step_rows(model_steps: Steps, baselines: Mapping[str, Steps], model_name: str | None = None) -> list[dict]:
    """Wide rows for a DVC plots CSV, one per horizon step (``step`` is 1-based).

    Each row: ``step``, [``model``,] ``m``, then per baseline ``b``: ``b_m`` and ``m_gain`` (first
    baseline) / ``m_gain_<b>`` (others).
    """
    names = list(model_steps)
    n = len(next(iter(model_steps.values()))) if names else 0
    rows: list[dict] = []
    for i in range(n):
        row: dict = {"step": i + 1}
        if model_name is not None:
            row[keys.MODEL] = model_name
        for name in names:
            row[name] = _round(model_steps[name][i])
            for j, (base, steps) in enumerate(baselines.items()):
                row[keys.of(base, name)] = _round(steps[name][i])
                row[keys.gain(name, base, primary=j == 0)] = _round(model_steps[name][i] - steps[name][i])
        rows.append(row)
    return rows


def write_rows_csv(rows: Sequence[Mapping], path: str | os.PathLike) -> Path:
    """Write rows (e.g. from :func:`per_step_rows`) to CSV atomically; None -> empty cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    atomic_write_text(path, buf.getvalue())
    return path


def write_metrics_json(path: Path, flat: Mapping[str, Any]) -> None:
    """``flat`` as a JSON object, non-finite floats as ``null`` (atomic)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in flat.items()}
    atomic_write_text(Path(path), json.dumps(clean, indent=2, allow_nan=False) + "\n")


def eval_size_text(flat: Mapping[str, Any]) -> str:
    """``240x320``, or ``each video's own size (9 sizes, the first 256x340)`` (``eval_sizes`` > 1)."""
    first = f"{flat['eval_height']}x{flat['eval_width']}"
    n = int(flat.get("eval_sizes") or 1)
    return first if n == 1 else f"each video's own size ({n} sizes, the first {first})"


def summary_lines(flat: Mapping[str, Any], model: str) -> list[str]:
    """Three lines: PSNR t+1 and SSIM t+1 (model vs each baseline, gain over the first) and the clip count."""
    def f(key: str, fmt: str) -> str:
        v = flat.get(key)
        return "n/a" if v is None else format(v, fmt)

    psnr_t1, ssim_t1 = keys.at(keys.PSNR, 1), keys.at(keys.SSIM, 1)
    psnr = " | ".join(f"{keys.LABELS[b]} {f(keys.of(b, psnr_t1), '.2f')} dB" for b in keys.BASELINES)
    ssim = " | ".join(f"{keys.LABELS[b]} {f(keys.of(b, ssim_t1), '.4f')}" for b in keys.BASELINES)
    size = f" at {eval_size_text(flat)}" if "eval_height" in flat else ""
    gain = keys.gain(keys.PSNR)
    return [
        f"psnr t+1: {model} {f(psnr_t1, '.2f')} dB | {psnr} | gain {f(keys.at(gain, 1), '+.2f')} dB "
        f"(mean over steps {f(keys.at(gain), '+.2f')} dB)",
        f"ssim t+1: {model} {f(ssim_t1, '.4f')} | {ssim} | gain {f(keys.at(keys.gain(keys.SSIM), 1), '+.4f')}",
        f"{flat.get('n_clips', 0)} test clips{size}"
        + (f" ({flat['n_clips_unreadable']} unreadable, skipped)" if flat.get("n_clips_unreadable") else ""),
    ]
