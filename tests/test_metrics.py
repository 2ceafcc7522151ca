import math

import pytest
import torch

from vfp.frames import to_model
from vfp.metrics import (
    METRIC_NAMES,
    PSNR_CAP,
    MetricAccumulator,
    copy_last_prediction,
    flat_metrics,
    per_step_metrics,
    per_step_rows,
    write_rows_csv,
)


def _px(x):
    """uint8-valued float pixels -> model space."""
    return to_model(torch.as_tensor(x, dtype=torch.float32))


def _clip(b=2, t=3, c=1, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 256, (b, t, c, h, w), generator=g).float()
    last = torch.randint(0, 256, (b, c, h, w), generator=g).float()
    return _px(target), _px(last)


def test_identical_frames_capped():
    target, last = _clip()
    m = per_step_metrics(target, target, last)
    assert set(m) == set(METRIC_NAMES)
    for k, v in m.items():
        assert v.shape == (2, 3), k
    assert torch.all(m["psnr"] == PSNR_CAP)
    assert torch.all(m["sharp_diff"] == PSNR_CAP)
    assert torch.allclose(m["ssim"], torch.ones(2, 3), atol=1e-5)
    assert torch.all(m["mse"] == 0) and torch.all(m["mae"] == 0)
    assert torch.all(m["psnr_moving"] == PSNR_CAP)


def test_constant_error_known_values():
    tp = torch.full((1, 2, 3, 16, 16), 100.0)
    pp = tp + 10.0
    m = per_step_metrics(_px(pp), _px(tp), _px(torch.zeros(1, 3, 16, 16)))
    expected = 10 * math.log10(255**2 / 100)
    assert torch.allclose(m["psnr"], torch.full((1, 2), expected), atol=1e-4)
    assert torch.allclose(m["mse"], torch.full((1, 2), (10 / 255) ** 2), rtol=1e-5)
    assert torch.allclose(m["mae"], torch.full((1, 2), 10 / 255), rtol=1e-5)
    # constant frames: gradients identical -> sharpness difference capped
    assert torch.all(m["sharp_diff"] == PSNR_CAP)
    # step 1 moves everywhere (0 -> 100), step 2 is static -> NaN moving metrics
    assert torch.allclose(m["psnr_moving"][0, 0], torch.tensor(expected), atol=1e-4)
    assert torch.isnan(m["psnr_moving"][0, 1]) and torch.isnan(m["mse_moving"][0, 1])


def test_per_frame_not_pooled():
    tp = torch.full((1, 2, 1, 16, 16), 100.0)
    pp = tp.clone()
    pp[0, 0] += 5.0
    pp[0, 1] += 20.0
    m = per_step_metrics(_px(pp), _px(tp), _px(tp[:, 0]))
    p1 = 10 * math.log10(255**2 / 25)
    p2 = 10 * math.log10(255**2 / 400)
    assert torch.allclose(m["psnr"][0], torch.tensor([p1, p2]), atol=1e-4)
    acc = MetricAccumulator()
    acc.update(m)
    mean = acc.means()["psnr"]
    assert mean == pytest.approx((p1 + p2) / 2, abs=1e-4)
    pooled = 10 * math.log10(255**2 / ((25 + 400) / 2))
    assert abs(mean - pooled) > 1.0


def test_per_clip_not_pooled():
    tp = torch.full((2, 1, 1, 16, 16), 100.0)
    pp = tp.clone()
    pp[0] += 5.0
    pp[1] += 20.0
    m = per_step_metrics(_px(pp), _px(tp), _px(tp[:, 0]))
    assert m["psnr"][0, 0] > m["psnr"][1, 0] + 10


def test_ssim_noisy_below_one():
    target, last = _clip(seed=1)
    g = torch.Generator().manual_seed(2)
    noisy = (target + 0.2 * torch.randn(target.shape, generator=g)).clamp(-1, 1)
    m = per_step_metrics(noisy, target, last)
    assert torch.all(m["ssim"] < 0.99)
    assert torch.all(m["ssim"] > -1)
    assert torch.all(torch.isfinite(m["sharp_diff"])) and torch.all(m["sharp_diff"] < PSNR_CAP)


def test_sharp_diff_hand_computed():
    # 1x1x1 clip; target has a vertical edge, prediction is flat.
    tp = torch.zeros(1, 1, 1, 12, 12)
    tp[..., 6:] = 200.0
    pp = torch.zeros_like(tp)
    m = per_step_metrics(_px(pp), _px(tp), _px(tp[:, 0]))
    # forward differences on the (11, 11) region: dx is 200 on column 5 only
    mean = 200.0 * 11 / (11 * 11)
    assert m["sharp_diff"][0, 0].item() == pytest.approx(10 * math.log10(255**2 / mean), abs=1e-3)


def test_copy_last_equals_explicit_repeat():
    target, last = _clip(seed=3)
    a = per_step_metrics(copy_last_prediction(last, 3), target, last)
    rep = last.unsqueeze(1).repeat(1, 3, 1, 1, 1)
    b = per_step_metrics(rep, target, last)
    for k in METRIC_NAMES:
        assert torch.allclose(a[k], b[k], equal_nan=True), k
    # step 1 of copy-last vs the true frame 1 equals the metric of last vs target[:,0]
    one = per_step_metrics(last.unsqueeze(1), target[:, :1], last)
    assert torch.allclose(a["psnr"][:, 0], one["psnr"][:, 0])


def test_static_clip_moving_nan_and_accumulator_skips():
    frame = _px(torch.randint(0, 256, (1, 1, 16, 16)).float())
    static = frame.unsqueeze(1).repeat(1, 2, 1, 1, 1)  # [1,2,1,16,16]
    pred = (static + 0.1).clamp(-1, 1)
    m_static = per_step_metrics(pred, static, frame)
    assert torch.all(torch.isnan(m_static["psnr_moving"]))
    assert torch.all(torch.isnan(m_static["mae_moving"]))
    assert torch.all(torch.isfinite(m_static["psnr"]))

    target, last = _clip(b=1, t=2, seed=4)
    m_move = per_step_metrics(target, target, last)
    acc = MetricAccumulator()
    acc.update(m_static)
    acc.update(m_move)
    steps = acc.per_step()
    assert steps["psnr_moving"] == [PSNR_CAP, PSNR_CAP]  # NaN skipped
    assert acc.counts()["psnr_moving"] == [1, 1]
    assert acc.counts()["psnr"] == [2, 2]

    only_static = MetricAccumulator()
    only_static.update(m_static)
    assert all(math.isnan(v) for v in only_static.per_step()["psnr_moving"])
    assert math.isnan(only_static.means()["psnr_moving"])


def test_moving_threshold():
    last = _px(torch.full((1, 1, 16, 16), 100.0))
    tgt = _px(torch.full((1, 1, 1, 16, 16), 105.0))
    pred = _px(torch.full((1, 1, 1, 16, 16), 90.0))
    assert torch.isnan(per_step_metrics(pred, tgt, last, moving_threshold=10.0)["mse_moving"]).all()
    m = per_step_metrics(pred, tgt, last, moving_threshold=4.0)
    assert m["mse_moving"][0, 0].item() == pytest.approx((15 / 255) ** 2, rel=1e-5)


def test_accumulator_batches_weighted_by_clip():
    acc = MetricAccumulator()
    acc.update({"psnr": torch.tensor([[10.0, 20.0]])})
    acc.update({"psnr": torch.tensor([[20.0, 30.0], [30.0, float("nan")]])})
    assert acc.per_step()["psnr"] == pytest.approx([20.0, 25.0])
    assert acc.means()["psnr"] == pytest.approx(22.5)


def test_flat_metrics_keys_and_gains():
    model = {"psnr": [30.0, 25.0], "ssim": [0.9, 0.8], "psnr_moving": [20.0, float("nan")]}
    copy = {"psnr": [28.0, 20.0], "ssim": [0.85, 0.7], "psnr_moving": [18.0, 17.0]}
    flat = flat_metrics(model, copy)
    for name in model:
        for suffix in ["_t1", "_t2", "_mean"]:
            assert f"{name}{suffix}" in flat
            assert f"copy_last_{name}{suffix}" in flat
            assert f"{name}_gain{suffix}" in flat
    assert flat["psnr_gain_t1"] == 2.0 and flat["psnr_gain_t2"] == 5.0
    assert flat["psnr_mean"] == 27.5 and flat["copy_last_psnr_mean"] == 24.0
    assert flat["psnr_gain_mean"] == 3.5
    assert flat["ssim_gain_t1"] == pytest.approx(0.05)
    assert flat["ssim_t1"] == round(0.9, 4)
    assert flat["psnr_moving_t2"] is None and flat["psnr_moving_gain_t2"] is None
    assert flat["psnr_moving_mean"] == 20.0
    for k, v in flat.items():
        assert v is None or round(v, 4) == v


def test_per_step_rows_and_csv(tmp_path):
    model = {"psnr": [30.0, 25.0], "ssim": [0.9, float("nan")]}
    copy = {"psnr": [28.0, 20.0], "ssim": [0.85, 0.7]}
    rows = per_step_rows(model, copy)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["psnr"] == 30.0 and rows[0]["copy_last_psnr"] == 28.0 and rows[0]["psnr_gain"] == 2.0
    assert rows[1]["ssim"] is None
    path = write_rows_csv(rows, tmp_path / "sub" / "per_step.csv")
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["step", "psnr", "copy_last_psnr", "psnr_gain"]
    assert len(lines) == 3
    assert per_step_rows(model, copy, model_name="convlstm")[0]["model"] == "convlstm"
