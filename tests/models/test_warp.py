"""warp model: starts as copy-last, shapes, exact warping, a pure translation learned, rollout."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vfp.flow import warp
from vfp.losses import gdl_loss
from vfp.models.warp import WarpNet


def _texture(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth random RGB textures [B, 3, h, w] in [-1, 1] (bilinear-upsampled noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, 3, h // 4, w // 4, generator=g) * 2 - 1
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)


def _pan(b: int, t: int, size: int, dx: int, dy: int, seed: int) -> torch.Tensor:
    """Clips [B, T, 3, size, size] of a camera panning over a texture by (dx, dy) pixels per frame
    (the content moves by (-dx, -dy))."""
    pad = t * max(abs(dx), abs(dy)) + 2
    tex = _texture(b, size + 2 * pad, size + 2 * pad, seed)
    frames = [tex[:, :, pad + k * dy: pad + k * dy + size, pad + k * dx: pad + k * dx + size] for k in range(t)]
    return torch.stack(frames, dim=1)


def test_untrained_is_exactly_copy_last_and_shapes():
    torch.manual_seed(0)
    model = WarpNet(n_input=4, features=(8, 16, 32), blend=True).eval()
    context = torch.rand(2, 4, 3, 32, 48) * 2 - 1
    out = model(context, 3)
    assert out.shape == (2, 3, 3, 32, 48)
    assert torch.equal(out, context[:, -1:].expand(-1, 3, -1, -1, -1))  # zero motion at the start
    assert model.stride == 4
    with pytest.raises(ValueError, match="divisible by its stride 4"):
        model(torch.zeros(1, 4, 3, 30, 32), 1)
    with pytest.raises(ValueError, match="blend needs n_input >= 2"):
        WarpNet(n_input=1, blend=True)


def test_warp_moves_pixels_by_the_flow():
    frame = _texture(1, 24, 24, seed=3)
    flow = torch.zeros(1, 2, 24, 24)
    assert torch.equal(warp(frame, flow), frame) or torch.allclose(warp(frame, flow), frame, atol=1e-5)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # out[y, x] = frame[y - 1, x + 2]
    out = warp(frame, flow)
    assert torch.allclose(out[..., 1:, :-2], frame[..., :-1, 2:], atol=1e-5)


def test_rollout_feeds_predictions_back():
    torch.manual_seed(0)
    model = WarpNet(n_input=2, features=(8, 16), blend=False, still=0)  # no still gate: an exact flow
    with torch.no_grad():  # a constant flow of one pixel right per step
        model.heads[-1].bias.copy_(torch.tensor([-1.0, 0.0]))
    model.eval()
    context = _pan(1, 2, 16, dx=1, dy=0, seed=1)
    out = model(context, 3)
    last = context[:, -1]
    for k in range(3):  # step k moves the last frame by k+1 pixels
        assert torch.allclose(out[:, k, ..., k + 1:], last[..., : 16 - k - 1], atol=1e-5)
    model.train()
    future = torch.zeros(1, 3, 3, 16, 16)
    teacher = model(context, 3, future=future)  # teacher forcing: step 2 warps the given zeros
    assert torch.equal(teacher[:, 2], torch.zeros_like(teacher[:, 2]))


@pytest.mark.slow  # about a minute of CPU
def test_learns_a_pure_translation_within_one_pixel():
    """A short CPU run: a camera panning (2, -1) px per frame; the predicted flow gets within 1 px."""
    torch.manual_seed(0)
    dx, dy = 2, -1
    model = WarpNet(n_input=2, features=(8, 16, 16), blend=False)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(120):
        clip = _pan(8, 3, 32, dx, dy, seed=step)
        pred = model(clip[:, :2], 1)
        loss = (pred - clip[:, 2:]).abs().mean() + gdl_loss(pred[:, 0], clip[:, 2])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    clip = _pan(4, 3, 32, dx, dy, seed=1000)  # unseen textures
    with torch.no_grad():
        flow = model.motion(clip[:, :2])[:, :2, 4:-4, 4:-4]  # interior: borders have no source pixels
        pred = model(clip[:, :2], 1)
    # backward warp: out[y, x] = last[y + dy, x + dx] (the content moved by (-dx, -dy)): the flow is (dx, dy)
    err = torch.sqrt((flow[:, 0] - dx) ** 2 + (flow[:, 1] - dy) ** 2)
    assert err.mean() < 1.0, f"mean flow error {err.mean():.2f} px"
    copy_err = (clip[:, 1] - clip[:, 2]).abs().mean()
    assert (pred[:, 0] - clip[:, 2]).abs().mean() < 0.5 * copy_err  # and it beats copy-last clearly


def test_still_context_is_copied_exactly_whatever_the_weights():
    """The still gate: pixels that did not change in the context stay exactly as they are, even for a
    net whose heads predict large motion; moving regions still move."""
    torch.manual_seed(0)
    model = WarpNet(n_input=3, features=(8, 16), blend=True, still=2.0, still_radius=2)
    with torch.no_grad():
        for head in model.heads:
            head.weight.normal_(0, 0.5)
            head.bias.fill_(3.0)
    model.eval()
    frozen = _texture(1, 32, 32, seed=4)[:, None].expand(-1, 3, -1, -1, -1).contiguous()
    assert torch.equal(model(frozen, 2), frozen[:, :2])  # a frozen clip: exact copies, also in the rollout
    part = frozen.clone()
    part[:, 1:, :, :, :8] = _pan(1, 2, 32, dx=1, dy=0, seed=5)[..., :8]  # only the left 8 columns move
    out = model(part, 1)[:, 0]
    assert torch.equal(out[..., 12:], part[:, -1, ..., 12:])  # far from the motion: untouched
    assert not torch.equal(out[..., :8], part[:, -1, ..., :8])  # the moving part moves


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_flow_prior_untrained_is_the_flow_baseline(method):
    """prior: <method> starts as the flow baseline's first step (not copy-last); with DIS (exactly zero flow
    on identical frames) a frozen clip stays frozen."""
    from vfp.baselines import copy_last, flow_extrapolation

    torch.manual_seed(0)
    context = _pan(2, 4, 32, dx=2, dy=1, seed=5)
    model = WarpNet(n_input=4, features=(8, 16, 32), prior=method).eval()
    with torch.no_grad():
        out = model(context, 1)
        expected = flow_extrapolation(context, 1, method)
    assert (out - expected).abs().max() < 1e-6
    assert (out - copy_last(context, 1)).abs().mean() > 0.05  # it moved the pixels
    plain = WarpNet(n_input=4, features=(8, 16, 32))
    assert model.down[0][0].in_channels == plain.down[0][0].in_channels + 2  # the net reads the flow
    if method == "dis":
        frozen = context[:, -1:].expand(-1, 4, -1, -1, -1)  # a frozen video: nothing moved, nothing moves
        with torch.no_grad():
            assert torch.equal(model(frozen, 2), frozen[:, :2])