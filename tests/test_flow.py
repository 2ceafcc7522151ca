"""vfp.flow: Farneback and DIS on a pure translation, the exact warp, the flow settings in params and cache keys."""
from types import SimpleNamespace

import pytest
import torch

from tests.test_baselines import psnr_interior, translating_clip
from vfp import flow as fl
from vfp.baselines import cache_key, flow_extrapolation, predictors
from vfp.config import ConfigError, parse_config
from vfp.frames import to_pixels


@pytest.mark.parametrize("preset", sorted(fl.DIS_PRESETS))
def test_dis_and_farneback_agree_on_a_pure_translation(preset):
    clip = translating_clip(2, dx=2, dy=1)  # the scene moves by (-2, -1) px per frame
    last, prev = to_pixels(clip[:, 1]), to_pixels(clip[:, 0])
    inner = (..., slice(8, -8), slice(8, -8))
    far, dis = fl.flow(last, prev, "farneback")[inner], fl.flow(last, prev, "dis", preset)[inner]
    truth = torch.tensor([2.0, 1.0]).view(1, 2, 1, 1)  # last(p) = prev(p + (2, 1))
    assert (far - truth).abs().mean() < 0.1 and (dis - truth).abs().mean() < 0.25
    assert (dis - far).abs().mean(dim=(2, 3)).max() < 0.5  # the two methods agree (mean per component)


@pytest.mark.parametrize("method", fl.METHODS)
def test_both_methods_extrapolate_a_pure_translation(method):
    clip = translating_clip(6, dx=2, dy=1)
    context, target = clip[:, :4], clip[:, 4:]
    pred = flow_extrapolation(context, 2, method)
    copy = context[:, -1:].expand_as(target)
    flow1, copy1 = psnr_interior(pred[:, 0], target[:, 0]), psnr_interior(copy[:, 0], target[:, 0])
    assert flow1 > 35.0 and flow1 > copy1 + 15.0, (method, flow1, copy1)
    assert psnr_interior(pred[:, 1], target[:, 1], border=8) > psnr_interior(copy[:, 1], target[:, 1], border=8) + 10
    assert torch.equal(predictors(method)["flow"](context, 2), pred)


def test_dis_runs_on_frames_smaller_than_its_patch():
    a = torch.rand(2, 3, 8, 8) * 255
    assert fl.flow(a, a, "dis", "medium").shape == (2, 2, 8, 8)


def test_warp_is_exact_where_the_flow_is_zero():
    frames = torch.rand(2, 3, 17, 23) * 2 - 1
    f = torch.zeros(2, 2, 17, 23)
    f[:, :, :5] = 1.3  # moves the top rows only
    out = fl.warp(frames, f)
    assert torch.equal(out[:, :, 6:], frames[:, :, 6:])
    assert not torch.allclose(out[:, :, :4], frames[:, :, :4])


def test_flow_method_is_validated_and_in_the_baseline_cache_key():
    assert parse_config({}).flow.method in fl.METHODS
    cfg = parse_config({"flow": {"method": "farneback"}})
    assert cfg.flow.method == "farneback"
    with pytest.raises(ConfigError, match=r"flow\.method must be one of farneback, dis, got 'raft'") as err:
        parse_config({"flow": {"method": "raft"}})
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"flow\.preset"):
        parse_config({"flow": {"preset": "slow"}})
    keys = {cache_key({"a": 1}, SimpleNamespace(method=m, preset=p))
            for m, p in (("farneback", "medium"), ("dis", "medium"), ("dis", "fast"))}
    assert len(keys) == 3
    assert cache_key({"a": 1}, SimpleNamespace(method="farneback", preset="fast")) == \
        cache_key({"a": 1}, SimpleNamespace(method="farneback", preset="medium"))  # the preset is DIS's
