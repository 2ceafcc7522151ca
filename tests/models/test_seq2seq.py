import torch

from vfp.losses import lp_loss
from vfp.models import ConvLSTMCell, Seq2Seq


def _frames(t, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, t, 3, h, w, generator=g) * 2 - 1


def _perturbed_model(**kw):
    torch.manual_seed(0)
    model = Seq2Seq(embed=8, hidden=(8,), **kw)
    with torch.no_grad():  # leave the copy-last init so the head actually responds
        for p in model.head.parameters():
            p.normal_(0, 0.1)
    return model


def test_convlstm_cell_shapes_and_state():
    cell = ConvLSTMCell(3, 5, 3)
    x = torch.randn(2, 3, 8, 12)
    h, c = cell(x)
    assert h.shape == c.shape == (2, 5, 8, 12)
    h2, _ = cell(x, (h, c))
    assert not torch.allclose(h, h2)


def test_teacher_forcing_in_train_only():
    model = _perturbed_model()
    context, future = _frames(4, 16, 16), _frames(3, 16, 16, seed=1)
    changed = future.clone()
    changed[:, 0] = -changed[:, 0]

    model.train()
    a, b = model(context, 3, future), model(context, 3, changed)
    assert torch.equal(a[:, 0], b[:, 0])  # step 0 never sees the future
    assert not torch.allclose(a[:, 1], b[:, 1])  # step 1's input is true frame 0

    model.eval()
    assert torch.equal(model(context, 3, future), model(context, 3, changed))
    assert torch.equal(model(context, 3, future), model(context, 3))


def test_scheduled_sampling_ratio_one_ignores_future():
    model = _perturbed_model(sampling_ratio=1.0).train()
    context, future = _frames(4, 16, 16), _frames(3, 16, 16, seed=1)
    assert torch.equal(model(context, 3, future), model(context, 3, -future))
    assert torch.equal(model(context, 3, future), model(context, 3))


def test_trained_at_32_runs_at_64x96():
    torch.manual_seed(0)
    model = Seq2Seq(embed=8, hidden=(8,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    clip = _frames(6, 32, 32)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(3):
        pred = model(clip[:, :4], 2, clip[:, 4:])
        loss = lp_loss(pred, clip[:, 4:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    out = model.eval()(_frames(4, 64, 96), 3)
    assert out.shape == (2, 3, 3, 64, 96)
    assert torch.isfinite(out).all() and out.abs().max() <= 1
