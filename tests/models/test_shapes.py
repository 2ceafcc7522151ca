"""Interface shared by every model: shapes, range, sizes, registry."""
import pytest
import torch

from vfp.models import build_model, get_spec, registered
from vfp.recipes import get_recipe
from vfp.schema import as_kwargs

MODELS = {name: get_spec(name).cls for name in registered()}

SMALL = {
    "seq2seq": dict(embed=8, hidden=(8, 8)),
    "autoencoder": dict(n_input=2, features=(4, 8, 16)),
    "multiscale_gan": dict(features=((4,),) * 4),
    "copy_last": dict(),
    "warp": dict(features=(4, 8, 16)),
}


def _frames(t, h, w, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("hw", [(64, 64), (32, 48)])
@pytest.mark.parametrize("n_future", [1, 4])
@pytest.mark.parametrize("training", [False, True])
def test_output_shape_and_range(name, hw, n_future, training):
    model = build_model(name, **SMALL[name]).train(training)
    assert hw[0] % model.stride == 0 and hw[1] % model.stride == 0
    context, future = _frames(5, *hw), _frames(n_future, *hw, seed=1)
    out = model(context, n_future, future=future if training else None)
    assert out.shape == (2, n_future, 3, *hw)
    assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("name", ["seq2seq", "autoencoder", "multiscale_gan"])
def test_non_residual_in_range(name):
    model = build_model(name, residual=False, **SMALL[name]).eval()
    out = model(_frames(4, 32, 32), 2)
    assert out.shape == (2, 2, 3, 32, 32)
    assert out.abs().max() < 1


def test_attributes():
    for name, cls in MODELS.items():
        assert get_recipe(get_spec(name).recipe).trains == (name != "copy_last")
        model = build_model(name, **SMALL[name])
        assert isinstance(model.n_input, int) and isinstance(model.stride, int)
    assert build_model("seq2seq", stride=8).stride == 8
    assert build_model("autoencoder").stride == 16
    assert build_model("multiscale_gan").stride == 16
    assert build_model("multiscale_gan", scales=(8, 16, 32), features=((4,),) * 3, kernels=(3,) * 3).stride == 4
    assert build_model("copy_last").stride == 1


@pytest.mark.parametrize("name", ["seq2seq", "autoencoder"])
def test_zero_init_residual_is_copy_last(name):
    model = build_model(name, **SMALL[name]).eval()
    context = _frames(4, 32, 32)
    out = model(context, 3)
    assert torch.equal(out, context[:, -1:].expand_as(out))


def test_multiscale_last_frame_base_is_copy_last():
    model = build_model("multiscale_gan", residual_base="last_frame", **SMALL["multiscale_gan"])
    context = _frames(4, 32, 32)
    out = model.eval()(context, 2)
    assert torch.equal(out, context[:, -1:].expand_as(out))


def test_copy_last_repeats_last_frame():
    context = _frames(3, 8, 8)
    out = build_model("copy_last")(context, 4)
    assert torch.equal(out, context[:, -1:].expand(-1, 4, -1, -1, -1))


@pytest.mark.parametrize("name", ["seq2seq", "autoencoder", "multiscale_gan"])
def test_bad_sizes_refused(name):
    model = build_model(name, **SMALL[name])
    with pytest.raises(ValueError, match="divisible"):
        model(_frames(4, 34, 34), 1)
    with pytest.raises(ValueError, match="context"):
        model(_frames(model.n_input - 1 if model.n_input > 1 else 0, 32, 32), 1)


def test_unknown_model_lists_valid_names():
    msg = "unknown model 'x'; registered: autoencoder, copy_last, multiscale_gan, seq2seq"
    with pytest.raises(ValueError, match=msg):
        build_model("x")
    with pytest.raises(ValueError, match="registered"):
        get_spec("x")


def _net_defaults(name: str) -> dict:
    return as_kwargs(get_spec(name).section().net)


def test_net_schema_defaults_match_signature():
    kw = _net_defaults("seq2seq")
    assert kw["n_input"] == 4 and kw["hidden"] == [64] and kw["sampling_ratio"] == 0.0
    assert _net_defaults("autoencoder")["features"] == [32, 64, 128, 256, 512]
    assert _net_defaults("copy_last") == {"n_input": 1}
    with pytest.raises(TypeError):
        build_model("seq2seq", not_a_kwarg=1)
