"""The one metric path of validation and test: Ignite metrics over the per-frame statistics of vfp.metrics.

An evaluator's step outputs ``{predictor: {stat: [B, T]}}`` (:func:`vfp.metrics.per_step_metrics` of the
model's prediction and of each baseline's, on the same clips); one :class:`PredictorMetrics` per
predictor (``model``, ``copy_last``, ``flow``) sums its statistics over batches and processes and
computes the metrics per horizon step (PSNR of the pooled MSE, ...: :class:`vfp.metrics.MetricAccumulator`).
"""
from __future__ import annotations

from typing import Mapping

import ignite.distributed as idist
import torch
from ignite.engine import Engine
from ignite.metrics import Metric, MetricsLambda
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce

from vfp import keys
from vfp.metrics import MetricAccumulator


class PredictorMetrics(Metric):
    """Per-step metrics of one predictor: ``{metric: [value per step]}`` (under the predictor's name in
    ``engine.state.metrics``).

    Reads ``output[predictor]`` (per-frame statistics ``{stat: [B, T]}``) of every step; reduced across
    processes (every process must see the same number of batches, as :class:`vfp.data.loaders.EpochSampler`
    ensures).
    """

    def __init__(self, predictor: str):
        self.predictor = predictor
        # a 1-tuple: Ignite would read a mapping as named inputs (y_pred, y)
        # a step may output None (a batch with no readable clip): nothing to add
        super().__init__(output_transform=lambda out: (out[predictor] if out is not None else {},),
                         metrics_result_mode="named")

    @reinit__is_reduced
    def reset(self) -> None:
        self._acc = MetricAccumulator()

    @reinit__is_reduced
    def update(self, output: tuple[Mapping[str, torch.Tensor]]) -> None:
        self._acc.update(output[0])

    def accumulator(self) -> MetricAccumulator:
        """The statistics summed over every batch of every process."""
        return self._acc.apply(idist.all_reduce) if idist.get_world_size() > 1 else self._acc

    def compute(self) -> dict[str, list[float]]:
        return self.accumulator().per_step()  # {} when no clip was scored


class LargestDiff(Metric):
    """The largest absolute value of ``output["diff"][baseline]`` (the model's prediction minus that baseline's,
    in grey levels) over every batch (and process)."""

    def __init__(self, baseline: str):
        super().__init__(output_transform=lambda out: out["diff"][baseline])

    @reinit__is_reduced
    def reset(self) -> None:
        self._max = torch.zeros((), dtype=torch.float64)

    @reinit__is_reduced
    def update(self, diff: torch.Tensor) -> None:
        self._max = torch.maximum(self._max, diff.detach().abs().max().double().cpu())

    @sync_all_reduce("_max:MAX")
    def compute(self) -> float:
        return float(self._max)


def _val_keys(model: Mapping[str, list[float]], copy: Mapping[str, list[float]], flow: Mapping[str, list[float]],
              copy_diff: float, flow_diff: float) -> dict[str, float]:
    psnr, copy_psnr, flow_psnr = model[keys.PSNR], copy[keys.PSNR], flow[keys.PSNR]
    out: dict[str, float] = {}
    for k, (m, c, f) in enumerate(zip(psnr, copy_psnr, flow_psnr), 1):
        out.update({keys.at(keys.PSNR, k): m, keys.at(keys.of(keys.COPY_LAST, keys.PSNR), k): c,
                    keys.at(keys.val_gain(keys.COPY_LAST), k): m - c, keys.at(keys.of(keys.FLOW, keys.PSNR), k): f,
                    keys.at(keys.val_gain(keys.FLOW), k): m - f})
    out[keys.Val.GAIN_BEST_T1.value] = psnr[0] - max(copy_psnr[0], flow_psnr[0])
    out[keys.Val.PSNR_FRAME_T1.value] = model[keys.PSNR_FRAME][0]
    out[keys.Val.PSNR_MEAN.value] = sum(psnr) / len(psnr)
    out[keys.Val.GAIN_MEAN.value] = (sum(psnr) - sum(copy_psnr)) / len(psnr)
    out[keys.Val.COPY_LAST_DIFF_T1.value], out[keys.Val.FLOW_DIFF_T1.value] = copy_diff, flow_diff
    return out


def attach_validation_metrics(engine: Engine) -> None:
    """The validation keys (:mod:`vfp.keys`: ``psnr_t<k>``, ``copy_last_psnr_t<k>``, ``flow_psnr_t<k>``,
    ``gain_t<k>``, ``gain_flow_t<k>`` and :class:`vfp.keys.Val`) in ``engine.state.metrics`` after every run,
    from the :class:`PredictorMetrics` of the model and both baselines and the step output's ``diff``
    (the model's t+1 prediction minus each baseline's)."""
    predictors = [PredictorMetrics(name) for name in keys.PREDICTORS]
    diffs = [LargestDiff(name) for name in keys.BASELINES]
    MetricsLambda(_val_keys, *predictors, *diffs).attach(engine, "validation")


def attach_test_metrics(engine: Engine) -> None:
    """One :class:`PredictorMetrics` per predictor (the model and every baseline), each under its name in
    ``engine.state.metrics`` after every run."""
    for name in keys.PREDICTORS:
        PredictorMetrics(name).attach(engine, name)
