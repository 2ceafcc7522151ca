import math

import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from vfp.frames import to_model
from vfp.metrics import (
    METRIC_NAMES,
    PSNR_CAP,
    STAT_NAMES,
    MetricAccumulator,
    copy_last_prediction,
    per_step_metrics,
    ssim_frames,
)
from vfp.results import flat_metrics, per_step_rows, write_rows_csv


def _px(x):
    """uint8-valued float pixels -> model space."""
    return to_model(torch.as_tensor(x, dtype=torch.float32))


def _clip(b=2, t=3, c=1, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 256, (b, t, c, h, w), generator=g).float()
    last = torch.randint(0, 256, (b, c, h, w), generator=g).float()
    return _px(target), _px(last)


def _steps(stats):
    acc = MetricAccumulator()
    acc.update(stats)
    return acc.per_step()


def test_identical_frames_capped():
    target, last = _clip()
    m = per_step_metrics(target, target, last)
    assert set(m) == set(STAT_NAMES)
    for k, v in m.items():
        assert v.shape == (2, 3), k
    assert torch.all(m["psnr_frame"] == PSNR_CAP) and torch.all(m["sharp_diff_frame"] == PSNR_CAP)
    assert torch.allclose(m["ssim"], torch.ones(2, 3), atol=1e-5)
    assert torch.all(m["mse"] == 0) and torch.all(m["mae"] == 0)
    steps = _steps(m)
    assert set(steps) == set(METRIC_NAMES)
    assert steps["psnr"] == [PSNR_CAP] * 3 and steps["psnr_moving"] == [PSNR_CAP] * 3


def test_constant_error_known_values():
    tp = torch.full((1, 2, 3, 16, 16), 100.0)
    pp = tp + 10.0
    steps = _steps(per_step_metrics(_px(pp), _px(tp), _px(torch.zeros(1, 3, 16, 16))))
    expected = 10 * math.log10(255**2 / 100)
    assert steps["psnr"] == pytest.approx([expected] * 2, abs=1e-4)
    assert steps["psnr_frame"] == pytest.approx([expected] * 2, abs=1e-4)
    assert steps["mse"] == pytest.approx([(10 / 255) ** 2] * 2, rel=1e-5)
    assert steps["mae"] == pytest.approx([10 / 255] * 2, rel=1e-5)
    assert steps["sharp_diff"] == [PSNR_CAP] * 2  # constant frames: identical gradients
    # step 1 moves everywhere (0 -> 100), step 2 is static -> NaN moving metrics
    assert steps["psnr_moving"][0] == pytest.approx(expected, abs=1e-4)
    assert math.isnan(steps["psnr_moving"][1]) and math.isnan(steps["mse_moving"][1])


def test_frozen_frame_cannot_dominate_pooled_psnr():
    """Two clips at one step: one predicted exactly (a frozen video), one at 20 dB (MSE 650.25)."""
    tp = torch.full((2, 1, 1, 16, 16), 100.0)
    pp = tp.clone()
    pp[1] += 25.5  # 255^2 / 25.5^2 = 100 -> 20 dB
    steps = _steps(per_step_metrics(_px(pp), _px(tp), _px(tp[:, 0])))
    assert steps["psnr_frame"][0] == pytest.approx((PSNR_CAP + 20.0) / 2, abs=1e-3)  # 60 dB: ruled by the frozen frame
    assert steps["psnr"][0] == pytest.approx(10 * math.log10(255**2 / (25.5**2 / 2)), abs=1e-3)  # 23.01 dB


def test_ssim_matches_reference_on_valid_region():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 3, 24, 28, generator=g) * 255
    b = (a + 20 * torch.randn(a.shape, generator=g)).clamp(0, 255)
    _, full = structural_similarity_index_measure(a.double(), b.double(), gaussian_kernel=True, sigma=1.5,
                                                   kernel_size=11, data_range=255.0, reduction="none",
                                                   return_full_image=True)
    ref = full[..., 5:-5, 5:-5].reshape(3, -1).mean(1)  # the classical valid-window SSIM (Wang et al.)
    assert torch.allclose(ssim_frames(a, b).double(), ref, atol=2e-4)
    assert torch.all(ssim_frames(a, b) < 0.99)
    luma = ssim_frames(a, b, luma=True)
    y = lambda x: (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # noqa: E731
    assert torch.allclose(luma, ssim_frames(y(a), y(b)), atol=1e-6)


def test_sharp_diff_hand_computed():
    # 1x1x1 clip; target has a vertical edge, prediction is flat.
    tp = torch.zeros(1, 1, 1, 12, 12)
    tp[..., 6:] = 200.0
    pp = torch.zeros_like(tp)
    m = per_step_metrics(_px(pp), _px(tp), _px(tp[:, 0]))
    mean = 200.0 * 11 / (11 * 11)  # forward differences on the (11, 11) region: dx is 200 on column 5 only
    assert m["sharp_diff_frame"][0, 0].item() == pytest.approx(10 * math.log10(255**2 / mean), abs=1e-3)
    assert _steps(m)["sharp_diff"][0] == pytest.approx(10 * math.log10(255**2 / mean), abs=1e-3)


def test_copy_last_equals_explicit_repeat():
    target, last = _clip(seed=3)
    a = per_step_metrics(copy_last_prediction(last, 3), target, last)
    b = per_step_metrics(last.unsqueeze(1).repeat(1, 3, 1, 1, 1), target, last)
    for k in STAT_NAMES:
        assert torch.allclose(a[k], b[k], equal_nan=True), k


def test_keep_leaves_frames_out_of_moving_metrics_only():
    last = _px(torch.full((2, 1, 16, 16), 0.0))
    tgt = _px(torch.full((2, 1, 1, 16, 16), 100.0))
    pred = tgt.clone()
    pred[1] = _px(torch.full((1, 1, 16, 16), 110.0))  # clip 1 off by 10 grey levels, clip 0 exact
    keep = torch.tensor([[False], [True]])
    steps = _steps(per_step_metrics(pred, tgt, last, keep=keep))
    assert steps["psnr_moving"][0] == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)  # clip 1 only
    assert steps["psnr_moving_frame"][0] == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)
    assert steps["mse"][0] == pytest.approx((10 / 255) ** 2 / 2, rel=1e-5)  # whole-frame: both clips


def test_explicit_mask_and_threshold():
    last = _px(torch.full((1, 1, 16, 16), 100.0))
    tgt = _px(torch.full((1, 1, 1, 16, 16), 105.0))
    pred = _px(torch.full((1, 1, 1, 16, 16), 90.0))
    assert torch.all(per_step_metrics(pred, tgt, last, moving_threshold=10.0)["n_moving"] == 0)
    assert _steps(per_step_metrics(pred, tgt, last, moving_threshold=4.0))["mse_moving"][0] == \
        pytest.approx((15 / 255) ** 2, rel=1e-5)
    mask = torch.zeros(1, 1, 1, 16, 16, dtype=torch.bool)
    mask[..., :4, :] = True
    m = per_step_metrics(pred, tgt, last, mask=mask)
    assert m["n_moving"][0, 0].item() == 4 * 16


def test_accumulator_batches_weighted_by_clip_and_merge():
    acc = MetricAccumulator()
    acc.update({"psnr": torch.tensor([[10.0, 20.0]])})
    acc.update({"psnr": torch.tensor([[20.0, 30.0], [30.0, float("nan")]])})
    assert acc.per_step()["psnr"] == pytest.approx([20.0, 25.0])
    assert acc.means()["psnr"] == pytest.approx(22.5)
    again = MetricAccumulator.from_state(acc.state())
    again.merge(acc)
    assert again.per_step()["psnr"] == pytest.approx([20.0, 25.0]) and again.counts()["psnr"] == [6, 4]


def test_flat_metrics_keys_and_gains():
    model = {"psnr": [30.0, 25.0], "ssim": [0.9, 0.8], "psnr_moving": [20.0, float("nan")]}
    copy = {"psnr": [28.0, 20.0], "ssim": [0.85, 0.7], "psnr_moving": [18.0, 17.0]}
    flow = {"psnr": [31.0, 24.0], "ssim": [0.95, 0.75], "psnr_moving": [19.0, 16.0]}
    flat = flat_metrics(model, {"copy_last": copy, "flow": flow})
    for name in model:
        for suffix in ["_t1", "_t2", "_mean"]:
            for key in (f"{name}{suffix}", f"copy_last_{name}{suffix}", f"flow_{name}{suffix}",
                        f"{name}_gain{suffix}", f"{name}_gain_flow{suffix}"):
                assert key in flat, key
    assert flat["psnr_gain_t1"] == 2.0 and flat["psnr_gain_t2"] == 5.0
    assert flat["psnr_gain_flow_t1"] == -1.0 and flat["psnr_gain_flow_t2"] == 1.0
    assert flat["psnr_mean"] == 27.5 and flat["copy_last_psnr_mean"] == 24.0
    assert flat["psnr_gain_mean"] == 3.5
    assert flat["psnr_moving_t2"] is None and flat["psnr_moving_gain_t2"] is None
    for v in flat.values():
        assert v is None or round(v, 4) == v


def test_per_step_rows_and_csv(tmp_path):
    model = {"psnr": [30.0, 25.0], "ssim": [0.9, float("nan")]}
    copy = {"psnr": [28.0, 20.0], "ssim": [0.85, 0.7]}
    rows = per_step_rows(model, {"copy_last": copy})
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["psnr"] == 30.0 and rows[0]["copy_last_psnr"] == 28.0 and rows[0]["psnr_gain"] == 2.0
    assert rows[1]["ssim"] is None
    path = write_rows_csv(rows, tmp_path / "sub" / "per_step.csv")
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["step", "psnr", "copy_last_psnr", "psnr_gain"]
    assert len(lines) == 3
    assert per_step_rows(model, {"copy_last": copy}, model_name="convlstm")[0]["model"] == "convlstm"
