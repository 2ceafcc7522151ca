import pytest
import torch

from vfp.frames import resize_to_scales, to_model, to_pixels, to_uint8


def test_round_trip_uint8_exact():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    m = to_model(x)
    assert m.dtype == torch.float32
    assert m.min().item() == -1.0 and m.max().item() == 1.0
    assert torch.equal(to_uint8(m), x)
    assert torch.allclose(to_pixels(m), x.float(), atol=1e-4)


def test_round_trip_tolerance_model_units():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    m = to_model(x)
    back = to_model(to_uint8(m + 0.3 / 127.5))
    assert (back - m).abs().max().item() <= 1 / 127.5 + 1e-6


def test_clamping():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0])
    p = to_pixels(x)
    assert p.min().item() == 0.0 and p.max().item() == 255.0
    u = to_uint8(x)
    assert u.tolist() == [0, 0, 128, 255, 255]


def test_clamp_model_cuts_values_but_keeps_the_gradient_at_the_bounds():
    from vfp.frames import clamp_model

    x = torch.tensor([-1.5, -1.0, 0.25, 1.0, 1.5], requires_grad=True)
    y = clamp_model(x)
    assert y.tolist() == [-1.0, -1.0, 0.25, 1.0, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # torch.clamp gives 0 at +-1 from torch 2.14 on


def test_resize_to_scales():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    small, same, hw = resize_to_scales(x, [2, 4, (2, 4)])
    assert small.shape == (1, 1, 2, 2) and torch.equal(same, x) and hw.shape == (1, 1, 2, 4)
    assert small[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)  # area average
