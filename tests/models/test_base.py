"""The base predictor (``base: copy_last | flow``): every learned model on the flow base starts as exactly the
``flow`` baseline on real frames; warp's flow prior too (at t+1); model files keep the base; it trains."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import in_ci
from vfp.baselines import flow_extrapolation
from vfp.engines.supervised import create_supervised_trainer
from vfp.errors import ConfigError
from vfp.flow import extrapolate
from vfp.frames import inner, to_model
from vfp.modelio import load_trained, save_trained
from vfp.models.base import FlowBase, base_meta, build_predictor, predictor_from_config, set_base_margin
from vfp.models.contract import predict_any_size
from vfp.models.params import parse_model_config as parse_config
from vfp.models.registry import get_spec
from vfp.models.warp import WarpNet
from vfp.schema import as_kwargs

REPO = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
LEARNED = sorted(k for k, v in PARAMS.items() if isinstance(v, dict) and "net" in v
                 and get_spec(k).section.trains)


def real_clips(n_frames: int = 7, size: tuple[int, int] = (64, 96)) -> torch.Tensor:
    """Clips ``[B, n_frames, 3, H, W]`` in [-1, 1] from the real footage beside the project (../shared),
    every 2nd frame; skipped where it is absent, except under CI (where ../shared is part of the setup)."""
    from vfp.data.video import probe, read_frames

    for shared in (REPO.parent / "shared", REPO.parents[1] / "shared"):
        videos = sorted((shared / "fixtures" / "real").glob("*.mp4"))
        if videos:
            break
    else:
        if in_ci():
            pytest.fail("CI needs ../shared/fixtures/real beside the project")
        pytest.skip("no ../shared/fixtures/real")
    clips = []
    for video in videos[:3]:
        start = probe(video) // 2
        frames = read_frames(video, start + 2 * np.arange(n_frames), size)
        clips.append(to_model(torch.from_numpy(frames).permute(0, 3, 1, 2)))
    return torch.stack(clips)


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return real_clips()


@pytest.mark.parametrize("method", ["dis", "farneback"])
@pytest.mark.parametrize("name", LEARNED)
def test_untrained_model_on_the_flow_base_is_the_flow_baseline(clips, name, method):
    cfg = parse_config({**PARAMS, "model": name, name: {**PARAMS[name], "base": "flow"},
                        "flow": {"method": method, "preset": "medium"}})
    torch.manual_seed(0)
    model = predictor_from_config(cfg).eval()
    assert isinstance(model, FlowBase) and model.n_input == max(2, PARAMS[name]["net"]["n_input"])
    context = clips[:, :4]
    with torch.no_grad():
        pred = model(context[:, -model.n_input:], 3)
    expected = flow_extrapolation(context, 3, method, "medium")
    assert (pred - expected).abs().max() < 1e-6, name  # every step, not only t+1
    assert (pred[:, 0] - context[:, -1]).abs().mean() > 1e-3  # the flow moved pixels: not copy-last


@pytest.mark.parametrize("name", LEARNED)
def test_off_stride_frames_are_padded_for_the_net_not_for_the_flow(name):
    """At a size no stride divides (61x93), the flow base computes its flow on the frames as given and
    pads only the net's input: untrained it is still exactly the flow baseline; on the copy_last base the
    padded prediction cropped back is exactly the last frame."""
    context = real_clips(4, (61, 93))
    torch.manual_seed(0)
    on_flow = predictor_from_config(parse_config({**PARAMS, "model": name, name: {**PARAMS[name], "base": "flow"}}))
    on_last = predictor_from_config(parse_config({**PARAMS, "model": name,
                                                  name: {**PARAMS[name], "base": "copy_last"}}))
    assert on_flow.stride > 1 and 61 % on_flow.stride and 93 % on_flow.stride
    with torch.no_grad():
        pred = predict_any_size(on_flow.eval(), context[:, -on_flow.n_input:], 2)
        last = predict_any_size(on_last.eval(), context[:, -on_last.n_input:], 2)
    assert pred.shape == last.shape == (context.shape[0], 2, 3, 61, 93)
    assert (pred - flow_extrapolation(context, 2, PARAMS["flow"]["method"], PARAMS["flow"]["preset"])).abs().max() < 1e-6
    assert (last - context[:, -1:]).abs().max() < 1e-6


def test_copy_last_base_is_the_model_as_registered():
    cfg = parse_config({**PARAMS, "model": "warp", "warp": {**PARAMS["warp"], "base": "copy_last"}})
    assert type(predictor_from_config(cfg)) is WarpNet
    assert parse_config({}).model_section("autoencoder").base == "copy_last"  # the schema's default
    with pytest.raises(ConfigError, match=r"warp\.base must be one of copy_last, flow, got 'sdc'"):
        parse_config({**PARAMS, "model": "warp", "warp": {"base": "sdc"}})


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_untrained_warp_prior_is_the_flow_baseline_at_t1(clips, method):
    torch.manual_seed(0)
    model = WarpNet(n_input=4, prior=method).eval()
    context = clips[:, :4]
    with torch.no_grad():
        pred = model(context, 1)
    assert (pred - flow_extrapolation(context, 1, method, "medium")).abs().max() < 1e-6


def test_model_file_keeps_the_base_and_its_flow_method(tmp_path):
    torch.manual_seed(0)
    model = build_predictor("autoencoder", {"n_input": 3, "features": [8, 16]}, "flow",
                            {"method": "farneback", "preset": "fast"})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # a trained-looking model: not the baseline any more
    assert base_meta(model) == {"base": "flow", "flow": {"method": "farneback", "preset": "fast"}}
    path = save_trained(tmp_path / "model.pt", "autoencoder", {"n_input": 3, "features": [8, 16]}, model, n_output=1)
    name, loaded = load_trained(path)
    assert name == "autoencoder" and isinstance(loaded, FlowBase) and loaded.method == "farneback"
    context = torch.rand(2, 3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(context, 2), model.eval()(context, 2))


def test_a_model_on_the_flow_base_learns():
    """Supervised training steps move the wrapped net (its gradients flow through the base's frame)."""
    torch.manual_seed(0)
    model = build_predictor("autoencoder", {"n_input": 2, "features": [8, 16]}, "flow", {"method": "dis"})
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer, _ = create_supervised_trainer(model, opt, n_output=2, grad_clip=1.0, device="cpu", p=1, lam_gdl=1.0)
    batch = {"frames": torch.rand(4, 4, 3, 16, 16) * 2 - 1}
    trainer.run([batch] * 3, max_epochs=1)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_gan_on_the_flow_base_trains_with_a_conditional_discriminator():
    from vfp.engines.gan import create_gan_trainer
    from vfp.models.sections import GanLoss, GanSchedule

    torch.manual_seed(0)
    gen = build_predictor("multiscale_gan", {"n_input": 2, "scales": [8, 16], "features": [[8], [8]],
                                             "kernels": [3, 3], "residual_base": "last_frame"}, "flow")
    disc = gen.make_discriminator(16, conditional=True, conv_features=[[4], [4]], conv_kernels=[[3], [3]],
                                  fc=[[8, 1], [8, 1]])
    assert disc.n_input == 2  # conditioned on the real frames, not on the base
    opt_g, opt_d = torch.optim.Adam(gen.parameters(), 1e-3), torch.optim.Adam(disc.parameters(), 1e-3)
    trainer, _ = create_gan_trainer(gen, disc, opt_g, opt_d, GanLoss(), GanSchedule())
    trainer.run([{"frames": torch.rand(2, 3, 3, 16, 16) * 2 - 1}] * 2, max_epochs=1)
    assert {"loss_g", "loss_d", "d_real", "d_fake"} <= set(trainer.state.output)


def test_the_flow_base_reads_at_least_two_frames():
    with pytest.raises(ValueError, match="base flow needs n_input >= 2"):
        FlowBase(build_predictor("copy_last", {"n_input": 2}), n_input=1)
    assert as_kwargs(parse_config({}).model_section("copy_last").net) == {"n_input": 1}
    assert build_predictor("copy_last", {"n_input": 1}, "flow").n_input == 2  # the flow needs two frames



def _small_on_flow() -> FlowBase:
    return build_predictor("autoencoder", {"n_input": 4, "features": [8, 16]}, "flow", {"method": "dis"})


def test_the_base_margin_is_read_by_the_flow_only(clips):
    """In training, the flow sees the whole window and the net predicts its inside: untrained, exactly the inside
    of the flow baseline's prediction of the whole window (not the flow of the inside alone); at evaluation
    the margin is off."""
    model = _small_on_flow()
    assert set_base_margin(model, 8) == 8 and set_base_margin(build_predictor("autoencoder", {}), 8) == 0
    context, future = clips[:, :4], clips[:, 4:6]
    model.train()
    pred = model(context, 2, future=future)
    assert pred.shape == (3, 2, 3, 64 - 16, 96 - 16)
    whole = inner(extrapolate(context, 2, "dis", "medium"), 8)
    assert torch.allclose(pred, whole, atol=1e-6)
    assert (pred - extrapolate(inner(context, 8), 2, "dis", "medium")).abs().max() > 0.05
    model.eval()
    assert model(context, 1).shape == (3, 1, 3, 64, 96)


def test_training_with_a_base_margin_scores_the_inside_of_each_window(clips):
    """The loss compares the prediction with the true frames' inside (the same pixels): untrained, the
    flow baseline's squared error there."""
    model = _small_on_flow()
    set_base_margin(model, 8)
    trainer, _ = create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), n_output=1,
                                           device="cpu", margin=8)
    trainer.run([{"frames": clips[:, :5]}], max_epochs=1)
    want = (inner(extrapolate(clips[:, :4], 1, "dis", "medium") - clips[:, 4:5], 8) ** 2).mean()
    assert trainer.state.output["loss"] == pytest.approx(float(want), rel=1e-5)


def test_gan_on_the_flow_base_trains_with_a_base_margin():
    from vfp.engines.gan import create_gan_trainer
    from vfp.models.sections import GanLoss, GanSchedule

    torch.manual_seed(0)
    gen = build_predictor("multiscale_gan", {"n_input": 2, "scales": [8, 16], "features": [[8], [8]],
                                             "kernels": [3, 3], "residual_base": "last_frame"}, "flow")
    set_base_margin(gen, 4)
    disc = gen.make_discriminator(16, conditional=True, conv_features=[[4], [4]], conv_kernels=[[3], [3]],
                                  fc=[[8, 1], [8, 1]])
    opt_g, opt_d = torch.optim.Adam(gen.parameters(), 1e-3), torch.optim.Adam(disc.parameters(), 1e-3)
    trainer, _ = create_gan_trainer(gen, disc, opt_g, opt_d, GanLoss(), GanSchedule(), crop=24, margin=4)
    trainer.run([{"frames": torch.rand(2, 3, 3, 24, 24) * 2 - 1}] * 2, max_epochs=1)
    assert {"loss_g", "loss_d", "d_real", "d_fake"} <= set(trainer.state.output)
    gen.train()
    assert [p.shape[-1] for p in gen.predict_scales(torch.rand(1, 2, 3, 24, 24))] == [8, 16]
