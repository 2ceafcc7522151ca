import torch
from torch import nn

from vfp.models import UNetAutoencoder


def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_channels_follow_features():
    feats = (4, 8, 16, 32)
    model = UNetAutoencoder(n_input=2, channels=3, features=feats)
    assert [b.out_ch for b in model.down] == list(feats)
    assert [_convs(b)[0].in_channels for b in model.down] == [6, 4, 8, 16]
    assert [b.out_ch for b in model.dec] == [16, 8, 4]
    assert [(u.in_channels, u.out_channels) for u in model.up] == [(32, 16), (16, 8), (8, 4)]
    # skip connections: decoder conv input = upsampled + skip channels
    assert [_convs(b)[0].in_channels for b in model.dec] == [16 + 16, 8 + 8, 4 + 4]
    assert model.head.in_channels == 4 and model.head.out_channels == 3
    assert model.stride == 8


def test_skip_connection_carries_fine_detail():
    """With the bottleneck cut off, the output still depends on the input via skips."""
    torch.manual_seed(0)
    model = UNetAutoencoder(features=(4, 8), residual=False).eval()
    x = torch.rand(1, 1, 3, 8, 8) * 2 - 1
    for p in model.down[1].parameters():
        nn.init.zeros_(p) if p.dim() > 1 else None
    y1 = model(x, 1)
    x2 = x.clone()
    x2[..., 0, 0] = -x2[..., 0, 0]
    assert not torch.allclose(y1, model(x2, 1))


def test_teacher_forcing_train_only():
    torch.manual_seed(0)
    model = UNetAutoencoder(features=(4, 8))
    nn.init.normal_(model.head.weight, 0, 0.1)
    context = torch.rand(2, 1, 3, 8, 8) * 2 - 1
    future = torch.rand(2, 3, 3, 8, 8) * 2 - 1
    a = model.train()(context, 3, future)
    b = model(context, 3, -future)
    assert torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1], b[:, 1])
    model.eval()
    assert torch.equal(model(context, 3, future), model(context, 3, -future))
