"""The names vfp reports under: predictors, metrics and the keys built from them.

One declared set: the metrics (vfp.metrics), the validation evaluator and model selection, the test
metrics files, the report, ``vfp compare`` and dvclive's curves all spell their keys through this module.

* test metrics (``metrics/metrics.json``): ``<m>_t<k>`` / ``<m>_mean`` for the model,
  ``<baseline>_<m>_t<k>`` for each baseline, ``<m>_gain_t<k>`` over the primary baseline (copy-last)
  and ``<m>_gain_<baseline>_t<k>`` over the others (:func:`at`, :func:`of`, :func:`gain`);
* validation (``state.metrics`` of the validation evaluator, dvclive's ``val/`` curves):
  ``psnr_t<k>``, ``copy_last_psnr_t<k>``, ``flow_psnr_t<k>``, ``gain_t<k>`` (model minus copy-last),
  ``gain_flow_t<k>`` (model minus flow) and the :class:`Val` keys.
"""
from __future__ import annotations

import enum

MODEL = "model"
COPY_LAST = "copy_last"
FLOW = "flow"
BASELINES: tuple[str, ...] = (COPY_LAST, FLOW)  # the first one is the primary baseline (plain ``*_gain_*`` keys)
PREDICTORS: tuple[str, ...] = (MODEL, *BASELINES)
LABELS = {COPY_LAST: "copy-last", FLOW: "flow"}

# reported metrics (see vfp.metrics for their definitions)
PSNR, PSNR_FRAME, SSIM = "psnr", "psnr_frame", "ssim"
METRIC_NAMES: tuple[str, ...] = (
    PSNR, PSNR_FRAME, SSIM, "mse", "mae", "sharp_diff", "sharp_diff_frame",
    "psnr_moving", "psnr_moving_frame", "mse_moving", "mae_moving",
)
# what the validation evaluator measures per predictor (the test measures METRIC_NAMES)
VAL_METRICS: tuple[str, ...] = (PSNR, PSNR_FRAME)
GAIN, DIFF = "gain", "diff"


class Val(str, enum.Enum):
    """Validation keys that model selection and the logs read (besides the per-step ones)."""

    PSNR_T1 = "psnr_t1"
    COPY_LAST_PSNR_T1 = "copy_last_psnr_t1"
    FLOW_PSNR_T1 = "flow_psnr_t1"
    GAIN_T1 = "gain_t1"  # PSNR gain over copy-last at t+1 (dB)
    GAIN_FLOW_T1 = "gain_flow_t1"  # PSNR gain over flow at t+1 (dB)
    GAIN_BEST_T1 = "gain_best_t1"  # the selection score: PSNR gain over the stronger baseline at t+1 (dB)
    PSNR_FRAME_T1 = "psnr_frame_t1"
    PSNR_MEAN = "psnr_mean"
    GAIN_MEAN = "gain_mean"
    COPY_LAST_DIFF_T1 = "copy_last_diff_t1"  # largest |model - copy-last| at t+1 (grey levels)
    FLOW_DIFF_T1 = "flow_diff_t1"  # largest |model - flow| at t+1 (grey levels)


def at(name: str, step: int | None = None) -> str:
    """``<name>_t<step>``, or ``<name>_mean`` when ``step`` is None."""
    return f"{name}_mean" if step is None else f"{name}_t{step}"


def of(predictor: str, name: str) -> str:
    """The key of ``name`` measured on ``predictor``: ``name`` for the model, ``<predictor>_<name>`` else."""
    return name if predictor == MODEL else f"{predictor}_{name}"


def gain(name: str, baseline: str = COPY_LAST, primary: bool | None = None) -> str:
    """``<name>_gain`` over the primary baseline (by default :data:`BASELINES`' first), ``<name>_gain_<baseline>``
    over the others."""
    primary = baseline == BASELINES[0] if primary is None else primary
    return f"{name}_gain" if primary else f"{name}_gain_{baseline}"


def val_gain(baseline: str) -> str:
    """The validation gain's name over ``baseline``: ``gain`` (copy-last, the primary), ``gain_<baseline>``."""
    return GAIN if baseline == BASELINES[0] else f"{GAIN}_{baseline}"
