import pytest
import torch

from vfp.frames import resize_to_scales
from vfp.losses import d_loss, multiscale_generator_loss
from vfp.models import MultiScaleDiscriminator, MultiScaleGenerator

SCALES = (4, 8, 16)


def _small_g(**kw):
    return MultiScaleGenerator(scales=SCALES, features=((4,), (4,), (4,)), kernels=(3, 3, 3), **kw)


def _small_d(**kw):
    return MultiScaleDiscriminator(
        scales=SCALES, size=16, conv_features=((4,), (4,), (4,)),
        conv_kernels=((3,), (3,), (3,)), fc=((8, 1),) * 3, **kw,
    )


def _frames(t, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, t, 3, h, w, generator=g) * 2 - 1


def test_scales_must_increase():
    for bad in [(4, 4, 16), (16, 8, 4), (8, 4)]:
        with pytest.raises(ValueError, match=r"scales must be strictly increasing, got \["):
            MultiScaleGenerator(scales=bad, features=((4,),) * len(bad), kernels=(3,) * len(bad))
        with pytest.raises(ValueError, match="strictly increasing"):
            MultiScaleDiscriminator(scales=bad)


def test_predict_scales_sizes_follow_frame_size():
    g = _small_g()
    preds = g.predict_scales(_frames(4, 16, 16))
    assert [tuple(p.shape[-2:]) for p in preds] == [(4, 4), (8, 8), (16, 16)]
    preds = g.predict_scales(_frames(4, 32, 48))  # trained-size agnostic
    assert [tuple(p.shape[-2:]) for p in preds] == [(8, 12), (16, 24), (32, 48)]
    assert g.stride == 4


def test_discriminator_logits_and_conditional():
    d = _small_d()
    frames = resize_to_scales(_frames(1, 16, 16)[:, 0], [4, 8, 16])
    assert d(frames).shape == (2, 3)
    dc = _small_d(conditional=True)
    context = _frames(4, 16, 16)
    out = dc(frames, context)
    assert out.shape == (2, 3)
    assert not torch.allclose(out, dc(frames, -context))
    with pytest.raises(ValueError, match="context"):
        dc(frames)


def test_default_discriminator_is_small():
    d = MultiScaleDiscriminator()
    assert sum(p.numel() for p in d.parameters()) < 2_000_000
    frames = resize_to_scales(torch.zeros(1, 3, 64, 64), [4, 16, 32, 64])
    assert d(frames).shape == (1, 4)


def _grads(module):
    return [p.grad for p in module.parameters()]


def test_gan_step_updates_both_and_gradients_flow_where_expected():
    torch.manual_seed(0)
    g, d = _small_g(), _small_d()
    opt_g = torch.optim.SGD(g.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(d.parameters(), lr=0.1)
    clip = _frames(5, 16, 16)
    context, target = clip[:, :4], clip[:, 4]
    targets = resize_to_scales(target, SCALES)
    g0 = [p.detach().clone() for p in g.parameters()]
    d0 = [p.detach().clone() for p in d.parameters()]

    # D step on real vs detached fake: no gradient reaches G
    fake = g.predict_scales(context)
    loss_d = d_loss(d(targets), d([f.detach() for f in fake]))
    opt_d.zero_grad()
    opt_g.zero_grad()
    loss_d.backward()
    assert all(gr is None for gr in _grads(g))
    assert any(gr is not None and gr.abs().sum() > 0 for gr in _grads(d))
    opt_d.step()

    # adversarial term alone sends gradient into G's weights
    fake = g.predict_scales(context)
    losses = multiscale_generator_loss(fake, targets, d(fake), lam_lp=0, lam_gdl=0, lam_adv=1)
    opt_g.zero_grad()
    losses["total"].backward()
    grads_g = _grads(g)
    assert all(gr is not None for gr in grads_g)
    assert sum(gr.abs().sum() for gr in grads_g) > 0
    opt_g.step()

    assert any(not torch.equal(a, b) for a, b in zip(g0, g.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, d.parameters()))


def test_forward_rollout_uses_finest_scale():
    g = _small_g().eval()
    torch.nn.init.normal_(g.stages[-1][-1].weight, 0, 0.1)
    context = _frames(4, 16, 16)
    out = g(context, 3)
    assert out.shape == (2, 3, 3, 16, 16)
    assert torch.equal(out[:, 0], g.predict_scales(context)[-1])
    nxt = torch.cat([context[:, 1:], out[:, :1]], dim=1)
    assert torch.allclose(out[:, 1], g.predict_scales(nxt)[-1])
