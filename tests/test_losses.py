import math

import pytest
import torch

from vfp.losses import (
    d_loss,
    g_adversarial_loss,
    gdl_loss,
    lp_loss,
    multiscale_generator_loss,
)


def test_lp_loss():
    a, b = torch.tensor([0.0, 1.0, -1.0]), torch.tensor([1.0, 1.0, 1.0])
    assert lp_loss(a, b, p=2).item() == pytest.approx((1 + 0 + 4) / 3)
    assert lp_loss(a, b, p=1).item() == pytest.approx((1 + 0 + 2) / 3)


def test_gdl_zero_for_identical_positive_otherwise():
    x = torch.rand(2, 3, 8, 8)
    assert gdl_loss(x, x).item() == 0
    assert gdl_loss(x + 0.5, x).item() == pytest.approx(0, abs=1e-6)  # shift: same gradients
    assert gdl_loss(x.flip(-1).flip(-2).transpose(-1, -2), x).item() > 0
    assert gdl_loss(torch.zeros(1, 1, 4, 4), x[:1, :1, :4, :4]).item() > 0


def test_gdl_hand_computed():
    target = torch.tensor([[[[0.0, 1.0], [3.0, 3.0]]]])
    pred = torch.zeros_like(target)
    # |dx target| = [1, 0], |dy target| = [3, 2]; pred gradients zero
    assert gdl_loss(pred, target).item() == pytest.approx((1 + 0) / 2 + (3 + 2) / 2)
    assert gdl_loss(pred, target, alpha=2).item() == pytest.approx((1 + 0) / 2 + (9 + 4) / 2)


def _bce(logit, label):
    s = 1 / (1 + math.exp(-logit))
    return -(label * math.log(s) + (1 - label) * math.log(1 - s))


def test_d_and_g_adversarial_losses():
    real, fake = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.5, 3.0]])
    expected_d = (_bce(2, 1) + _bce(-1, 1)) / 2 + (_bce(0.5, 0) + _bce(3, 0)) / 2
    assert d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert g_adversarial_loss(fake).item() == pytest.approx((_bce(0.5, 1) + _bce(3, 1)) / 2, rel=1e-6)


def test_multiscale_loss_matches_hand_computation():
    # scale 1: 1x2 frames, scale 2: 2x2 frames; batch 1, one channel
    p1, t1 = torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([[[[1.0, 1.0]]]])
    p2 = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]]])
    t2 = torch.tensor([[[[0.0, 2.0], [0.0, 0.0]]]])
    logits = torch.tensor([[0.0, 1.0]])
    # scale 1: L2 = (1 + 0)/2; dx pred=1, target=0 -> 1; dy: none (height 1) -> mean of empty
    # scale 2: L2 = 4/4 = 1; dx: |t| = [2, 0], |p| = 0 -> mean 1; dy: |t| = [0, 2] -> mean 1
    lp1, lp2, gdl2 = 0.5, 1.0, 2.0
    adv1, adv2 = _bce(0.0, 1), _bce(1.0, 1)
    out = multiscale_generator_loss(
        [p2, p2], [t2, t2], logits, lam_lp=2.0, lam_gdl=0.5, lam_adv=0.1, scales=(2, 4)
    )
    assert set(out) == {"total", "lp_s2", "gdl_s2", "adv_s2", "lp_s4", "gdl_s4", "adv_s4"}
    assert out["lp_s4"].item() == pytest.approx(lp2)
    assert out["gdl_s4"].item() == pytest.approx(gdl2)
    assert out["adv_s2"].item() == pytest.approx(adv1, rel=1e-6)
    assert out["adv_s4"].item() == pytest.approx(adv2, rel=1e-6)
    expected = 2 * (2.0 * lp2 + 0.5 * gdl2) + 0.1 * (adv1 + adv2)
    assert out["total"].item() == pytest.approx(expected, rel=1e-6)
    # default key names: prediction height; no adversarial term without logits
    out = multiscale_generator_loss([p1[..., :1, :], p2], [t1, t2], None)
    assert set(out) == {"total", "lp_s1", "gdl_s1", "lp_s2", "gdl_s2"}
    assert out["lp_s1"].item() == pytest.approx(lp1)
    assert out["gdl_s1"].item() == pytest.approx(1.0)  # dx only: height 1 has no dy
    assert out["total"].item() == pytest.approx(lp1 + 1.0 + lp2 + gdl2)
    out0 = multiscale_generator_loss([p2], [t2], logits[:, :1], lam_adv=0)
    assert "adv_s2" not in out0 and out0["total"].item() == pytest.approx(lp2 + gdl2)

