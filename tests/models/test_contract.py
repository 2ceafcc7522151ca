"""The model contract: one rollout, one frame-size rule with one message, the Protocols the built-ins meet."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from vfp.extend import GanGenerator, NextFrameModel, Params, bounded, register_model, rollout
from vfp.models import build_model, registered, registry
from vfp.models.contract import check_context, check_frame_size, frame_size_problem


def _shift(frames: torch.Tensor) -> torch.Tensor:
    """A one-frame step that tells its inputs apart: last frame + 0.1 * (last - first)."""
    return frames[:, -1] + 0.1 * (frames[:, -1] - frames[:, 0])


def test_rollout_feeds_its_own_predictions_or_the_true_frames():
    context = torch.arange(2 * 3 * 1 * 2 * 2, dtype=torch.float32).view(2, 3, 1, 2, 2)
    future = -torch.ones(2, 2, 1, 2, 2)
    own = rollout(_shift, context, n_input=2, n_future=2)
    assert own.shape == (2, 2, 1, 2, 2)
    first = _shift(context[:, -2:])
    assert torch.equal(own[:, 0], first)
    assert torch.equal(own[:, 1], _shift(torch.stack([context[:, -1], first], dim=1)))
    forced = rollout(_shift, context, n_input=2, n_future=2, future=future)
    assert torch.equal(forced[:, 0], first)
    assert torch.equal(forced[:, 1], _shift(torch.stack([context[:, -1], future[:, 0]], dim=1)))


def test_one_frame_size_rule_one_message():
    assert frame_size_problem((64, 48), 16, "data.size", "m") is None
    message = frame_size_problem((66, 64), 4, "data.size", "seq2seq")
    assert message == "data.size [66, 64]: seq2seq needs H and W divisible by its stride 4 (e.g. [64, 64])"
    with pytest.raises(ValueError, match=r"^--size \[30, 40\]: warp needs H and W divisible by its stride 8"):
        check_frame_size((30, 40), 8, "--size", "warp")
    with pytest.raises(ValueError, match=r"context must be \[B, T>=4"):
        check_context(torch.zeros(1, 3, 3, 8, 8), 4, 1)


def test_built_in_models_meet_the_protocols():
    for name in registered():
        model = build_model(name)
        assert isinstance(model, NextFrameModel), name
    assert isinstance(build_model("multiscale_gan"), GanGenerator)
    assert not isinstance(build_model("autoencoder"), GanGenerator)


def test_the_public_extension_api_registers_a_rolled_out_model(monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))  # the model stays in this test

    @dataclass(frozen=True)
    class TinyNet(Params):
        n_input: int = bounded(2, ge=1)

    @register_model("tiny_contract_test", params=TinyNet)
    class Tiny(torch.nn.Module):
        def __init__(self, n_input: int = 2):
            super().__init__()
            self.n_input, self.stride = n_input, 1
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, context, n_future, future=None):
            return rollout(lambda f: f[:, -1] * self.scale, context, self.n_input, n_future, future)

    out = build_model("tiny_contract_test")(torch.ones(1, 2, 3, 4, 4), 3)
    assert out.shape == (1, 3, 3, 4, 4) and torch.equal(out, torch.ones_like(out))
