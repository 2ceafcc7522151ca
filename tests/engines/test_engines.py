"""Trainer steps: supervised and multi-scale GAN (order of updates, gradients, warm-ups, bf16)."""
from __future__ import annotations

import pytest
import torch

from vfp.engines.common import random_crop
from vfp.engines.gan import create_gan_trainer
from vfp.engines.supervised import create_supervised_trainer
from vfp.engines.validation import create_evaluator
from vfp.models.registry import build_model
from vfp.models.sections import GanLoss as GanLossConfig
from vfp.models.sections import GanSchedule as GanScheduleConfig


def _batch(b=2, t=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"frames": torch.rand(b, t, 3, size, size, generator=g) * 2 - 1, "video": ["v"] * b, "start": [0] * b}


def _seq2seq():
    torch.manual_seed(0)
    return build_model("seq2seq", n_input=2, embed=8, hidden=[8], stride=4)


def _gan(conditional=False):
    torch.manual_seed(0)
    g = build_model("multiscale_gan", n_input=2, scales=[4, 8, 16], features=[[8]] * 3, kernels=[3, 3, 3])
    d = g.make_discriminator(16, conv_features=[[4]] * 3, conv_kernels=[[3]] * 3, fc=[[8, 1]] * 3,
                             conditional=conditional)
    return g, d


def _changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.state_dict().values()))


def _snap(module):
    return [v.clone() for v in module.state_dict().values()]


def _run_step(engine, batch, epoch=1):
    engine.state.epoch = epoch
    engine.state.iteration = 1
    return engine._process_function(engine, batch)


def test_supervised_step_finite_loss_and_changes_weights():
    model = _seq2seq()
    before = _snap(model)
    trainer, _ = create_supervised_trainer(model, torch.optim.Adam(model.parameters(), 1e-3), n_output=2)
    out = _run_step(trainer, _batch())
    assert set(out) == {"loss"} and torch.isfinite(torch.tensor(out["loss"]))
    assert _changed(before, model)


def test_supervised_bf16_autocast_on_cpu_runs_finite():
    model = _seq2seq()
    trainer, _ = create_supervised_trainer(model, torch.optim.Adam(model.parameters(), 1e-3), n_output=2, amp="bf16")
    out = _run_step(trainer, _batch())
    assert torch.isfinite(torch.tensor(out["loss"]))


def test_supervised_with_crop():
    model = build_model("autoencoder", n_input=1, features=[4, 8])
    trainer, _ = create_supervised_trainer(model, torch.optim.Adam(model.parameters()), n_output=1, crop=8)
    out = _run_step(trainer, _batch(t=2))
    assert torch.isfinite(torch.tensor(out["loss"]))


def test_random_crop_same_window_for_all_frames_of_a_clip():
    frames = torch.arange(2 * 3 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 3, 1, 8, 8)
    frames[:, 1] = frames[:, 0]
    frames[:, 2] = frames[:, 0]
    out = random_crop(frames, 4)
    assert out.shape == (2, 3, 1, 4, 4)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])


def test_gan_updates_d_before_g_and_both_change():
    g, d = _gan()
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    order = []
    opt_g.register_step_post_hook(lambda *a: order.append("g"))
    opt_d.register_step_post_hook(lambda *a: order.append("d"))
    bg, bd = _snap(g), _snap(d)
    trainer, _ = create_gan_trainer(g, d, opt_g, opt_d, GanLossConfig(), GanScheduleConfig(d_steps=2))
    out = _run_step(trainer, _batch(t=3))
    assert order == ["d", "d", "g"]
    assert _changed(bg, g) and _changed(bd, d)
    for key in ("loss_g", "loss_d", "d_real", "d_fake", "lp_s16", "gdl_s4", "adv_s8"):
        assert key in out and torch.isfinite(torch.tensor(out[key])), key
    assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1


@pytest.mark.parametrize("conditional", [False, True])
def test_gan_adversarial_only_gives_generator_gradient(conditional):
    g, d = _gan(conditional)
    # a residual G starts with zero output convs; perturb so D's gradient reaches every layer
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    opt_g, opt_d = torch.optim.SGD(g.parameters(), 0.0), torch.optim.Adam(d.parameters(), 1e-3)
    loss = GanLossConfig(lam_lp=0.0, lam_gdl=0.0, lam_adv=1.0)
    trainer, _ = create_gan_trainer(g, d, opt_g, opt_d, loss, GanScheduleConfig(), grad_clip=0.0)
    d_step_grads = []
    d_step = opt_d.step

    def record_then_step(*args, **kwargs):  # D's gradients as its own update leaves them
        d_step_grads.append([p.grad.clone() for p in d.parameters()])
        return d_step(*args, **kwargs)

    opt_d.step = record_then_step
    out = _run_step(trainer, _batch(t=3))
    grads = [p.grad for p in g.parameters()]
    assert all(gr is not None for gr in grads)
    assert sum(gr.abs().sum().item() for gr in grads) > 0
    assert out["loss_g"] > 0
    # the G step (after D's) added nothing to D's gradients: D was frozen there
    assert len(d_step_grads) == 1
    assert all(torch.equal(p.grad, before) for p, before in zip(d.parameters(), d_step_grads[0]))
    assert all(p.requires_grad for p in d.parameters())  # and D is trainable again after


def test_gan_g_warmup_leaves_d_unchanged():
    g, d = _gan()
    bg, bd = _snap(g), _snap(d)
    trainer, _ = create_gan_trainer(g, d, torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters()),
                                    GanLossConfig(), GanScheduleConfig(g_warmup_epochs=1))
    out = _run_step(trainer, _batch(t=3), epoch=1)
    assert not _changed(bd, d) and _changed(bg, g)
    assert "loss_d" not in out and "adv_s16" not in out
    out = _run_step(trainer, _batch(t=3), epoch=2)
    assert _changed(bd, d) and "adv_s16" in out


def test_gan_d_warmup_trains_d_without_adversarial_term():
    g, d = _gan()
    bd = _snap(d)
    trainer, _ = create_gan_trainer(g, d, torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters()),
                                    GanLossConfig(), GanScheduleConfig(d_warmup_epochs=1))
    out = _run_step(trainer, _batch(t=3), epoch=1)
    assert _changed(bd, d) and "loss_d" in out and "adv_s16" not in out


def test_multiscale_without_adversarial_has_no_d():
    g, _ = _gan()
    bg = _snap(g)
    trainer, _ = create_gan_trainer(g, None, torch.optim.Adam(g.parameters()), None,
                                    GanLossConfig(lam_adv=0.0), GanScheduleConfig())
    out = _run_step(trainer, _batch(t=3))
    assert _changed(bg, g) and "loss_d" not in out and {"lp_s4", "gdl_s16"} <= set(out)


def test_gan_multi_step_teacher_forcing_and_bf16():
    g, d = _gan()
    trainer, _ = create_gan_trainer(g, d, torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters()),
                                    GanLossConfig(), GanScheduleConfig(), n_output=2, amp="bf16")
    out = _run_step(trainer, _batch(t=4))
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_evaluator_psnr_t1_and_copy_last_value():
    model = build_model("copy_last", n_input=1)
    frames = torch.zeros(2, 3, 3, 16, 16)
    frames[:, 1] = 0.5  # t+1 differs from the last input by 0.5 model units = 63.75 pixel levels
    frames[:, 2] = 0.0  # t+2 equals the last input -> capped PSNR
    evaluator = create_evaluator(model, n_input=1, horizon=2)
    evaluator.run([{"frames": frames}])
    expected = 10 * torch.log10(torch.tensor(255.0**2 / 63.75**2)).item()
    assert abs(evaluator.state.metrics["psnr_t1"] - expected) < 1e-3
    assert evaluator.state.metrics["psnr_t2"] == pytest.approx(100.0)
    assert evaluator.state.metrics["psnr_mean"] == pytest.approx((expected + 100.0) / 2, abs=1e-3)


def test_evaluator_scores_the_flow_baseline_beside_copy_last():
    from tests.test_baselines import translating_clip
    from vfp.baselines import predictors
    from vfp.models.base import build_predictor

    frames = translating_clip(5, dx=2, dy=1).expand(2, -1, -1, -1, -1)  # 3 context + 2 targets, a pure pan
    last = build_model("copy_last", n_input=1)
    m = create_evaluator(last, n_input=1, horizon=2, flow=predictors("dis")["flow"])
    m.run([{"frames": frames[:, 1:]}])  # 2 context frames: the model reads one, the flow baseline two
    m = m.state.metrics
    assert m["flow_psnr_t1"] > m["copy_last_psnr_t1"] + 10 and m["copy_last_diff_t1"] == 0
    assert m["gain_best_t1"] == pytest.approx(m["psnr_t1"] - m["flow_psnr_t1"])
    assert m["gain_flow_t2"] == pytest.approx(m["psnr_t2"] - m["flow_psnr_t2"])
    on_flow = build_predictor("copy_last", {"n_input": 1}, "flow", {"method": "dis"})
    ev = create_evaluator(on_flow, n_input=2, horizon=2, flow=predictors("dis")["flow"])
    ev.run([{"frames": frames}])
    assert ev.state.metrics["flow_diff_t1"] == 0 and ev.state.metrics["gain_best_t1"] == pytest.approx(0, abs=1e-9)
