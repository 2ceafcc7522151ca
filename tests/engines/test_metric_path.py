"""One metric path: validation and test compute PSNR through the same Ignite metric, per predictor."""
from __future__ import annotations

import pytest
import torch

from vfp import keys
from vfp.config import parse_config
from vfp.engines.testing import BaselineSource, GifClips, create_test_evaluator
from vfp.engines.validation import create_evaluator
from vfp.models.registry import build_model

N_INPUT, HORIZON = 2, 3


def _batches(n=3, b=2, size=16):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        frames = torch.rand(b, N_INPUT + HORIZON, 3, size, size, generator=g) * 2 - 1
        frames[:, N_INPUT:] = frames[:, N_INPUT - 1 : N_INPUT] * 0.8 + frames[:, N_INPUT:] * 0.2  # near copy-last
        out.append({"frames": frames, "video": [f"v{i}_{j}" for j in range(b)], "clip": [0] * b,
                    "key": [f"{i}:{j}" for j in range(b)]})
    return out


def _model():
    torch.manual_seed(0)
    return build_model("autoencoder", n_input=N_INPUT, features=[4, 8], residual=False).eval()


def test_validation_and_test_psnr_are_one_computation():
    batches, model = _batches(), _model()
    val = create_evaluator(model, n_input=N_INPUT, horizon=HORIZON)
    val.run(batches)
    ev = parse_config({"evaluate": {"horizon": HORIZON}}).evaluate
    test = create_test_evaluator(model, n_ctx=N_INPUT, horizon=HORIZON, device=torch.device("cpu"),
                                 baselines=BaselineSource(ev))
    test.run(batches)
    m, copy = test.state.metrics[keys.MODEL], test.state.metrics[keys.COPY_LAST]
    for k in range(1, HORIZON + 1):
        assert val.state.metrics[keys.at(keys.PSNR, k)] == m[keys.PSNR][k - 1]
        assert val.state.metrics[keys.at(keys.of(keys.COPY_LAST, keys.PSNR), k)] == copy[keys.PSNR][k - 1]
        assert val.state.metrics[keys.at(keys.GAIN, k)] == pytest.approx(m[keys.PSNR][k - 1] - copy[keys.PSNR][k - 1])
    assert val.state.metrics[keys.Val.PSNR_FRAME_T1.value] == m[keys.PSNR_FRAME][0]
    assert set(test.state.metrics) >= set(keys.PREDICTORS)
    assert m[keys.PSNR] != copy[keys.PSNR] and set(m) == set(keys.METRIC_NAMES)


def test_copy_last_diff_is_zero_for_copy_last_and_gifs_keep_first_clips():
    batches, model = _batches(), build_model("copy_last", n_input=1)
    val = create_evaluator(model, n_input=1, horizon=HORIZON)
    val.run([{"frames": b["frames"][:, N_INPUT - 1:]} for b in batches])
    assert val.state.metrics[keys.Val.COPY_LAST_DIFF_T1.value] == 0.0
    assert val.state.metrics[keys.Val.GAIN_MEAN.value] == 0.0
    ev = parse_config({"evaluate": {"horizon": HORIZON}}).evaluate
    baselines, gifs = BaselineSource(ev), GifClips(3)
    test = create_test_evaluator(model, n_ctx=N_INPUT, horizon=HORIZON, device=torch.device("cpu"),
                                 baselines=baselines)
    gifs.attach(test)
    test.run(batches)
    assert [c[0] for c in gifs.clips] == ["v0_0", "v0_1", "v1_0"] and baselines.seconds > 0
    assert test.state.metrics[keys.MODEL][keys.PSNR] == test.state.metrics[keys.COPY_LAST][keys.PSNR]
    seconds = baselines.seconds
    test.run(batches)  # the second run finds every clip's baselines in the cache
    assert baselines.seconds == seconds
