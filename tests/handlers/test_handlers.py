"""Handlers in isolation: RNG state, checkpoint guard, NaN guard, snapshots (the dvclive log: test_live.py)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from ignite.engine import Engine

from vfp.handlers import CheckpointHandler, NanGuard, RngState, Snapshots
from vfp.handlers.checkpoint import checkpoint_files, load_latest


def test_rng_state_round_trip_through_weights_only_load(tmp_path):
    rng = RngState()
    state = rng.state_dict()
    torch.save(state, tmp_path / "rng.pt")
    want = (torch.rand(3), np.random.rand(3), random.random())
    rng.load_state_dict(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


def _engine(outputs):
    it = iter(outputs)
    return Engine(lambda e, b: next(it))


def test_nan_guard_terminates_with_message():
    msgs = []
    engine = _engine([{"loss": 1.0}, {"loss": 2.0}, {"loss": float("inf")}, {"loss": 1.0}])
    guard = NanGuard(last_checkpoint=lambda: "run/checkpoint_2.pt", log=msgs.append)
    guard.attach(engine)
    engine.run(range(4), max_epochs=1)
    assert engine.state.iteration == 3 and guard.key == "loss" and guard.message == msgs[0]
    assert "loss 'loss' became inf" in msgs[0] and "run/checkpoint_2.pt" in msgs[0]


def test_checkpoint_not_saved_with_nan_weights(tmp_path):
    model = torch.nn.Linear(2, 2)
    engine = _engine([{"loss": 1.0}] * 4)
    msgs = []
    handler = CheckpointHandler(tmp_path, {"model": model, "trainer": engine}, n_saved=2, log=msgs.append)
    handler.attach(engine)
    engine.run(range(2), max_epochs=2)
    assert [s for s, _ in checkpoint_files(tmp_path)] == [2, 4]
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    assert handler.save_now(engine) == tmp_path / "checkpoint_4.pt"
    engine.state.iteration = 5
    handler(engine)
    assert [s for s, _ in checkpoint_files(tmp_path)] == [2, 4] and "not saving" in msgs[-1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]  # atomic saves leave nothing


def test_load_latest_skips_garbage_and_ignores_temp_files(tmp_path):
    model = torch.nn.Linear(2, 2)
    torch.save({"model": model.state_dict()}, tmp_path / "checkpoint_3.pt")
    (tmp_path / "checkpoint_9.pt").write_bytes(b"\x00garbage")
    torch.save({"model": torch.nn.Linear(2, 2).state_dict()}, tmp_path / "tmpxyz")  # unfinished atomic save
    msgs = []
    fresh = torch.nn.Linear(2, 2)
    assert load_latest(tmp_path, {"model": fresh}, log=msgs.append) == tmp_path / "checkpoint_3.pt"
    assert torch.equal(fresh.weight, model.weight)
    assert len(msgs) == 1 and msgs[0].startswith("warning: checkpoint") and "checkpoint_9.pt" in msgs[0]


def test_snapshots_names_and_latest(tmp_path):
    from vfp.gif import gif_frame_count
    from vfp.models.registry import build_model

    frames = torch.linspace(-1, 1, 5)[:, None, None, None].expand(5, 3, 8, 8).contiguous()
    clips = [{"frames": frames, "video": "v_A_g01_c01"}]
    with pytest.raises(ValueError, match="needs n_input"):
        Snapshots(build_model("copy_last"), clips, tmp_path, n_input=2, horizon=4)
    snap = Snapshots(build_model("copy_last"), clips, tmp_path, n_input=2, horizon=3, every=2)
    engine = _engine([{"loss": 1.0}] * 10)
    snap.attach(engine)
    engine.run(range(1), max_epochs=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_002", "epoch_004", "latest"]
    expected = tmp_path / "latest" / "v_A_g01_c01_expected_large.gif"
    assert gif_frame_count(expected) == 5
    assert (tmp_path / "epoch_004" / "v_A_g01_c01_generated_large.gif").exists()


def test_progress_off_a_terminal_prints_one_line_per_epoch():
    from vfp.handlers.progress import Progress

    lines: list[str] = []
    engine = Engine(lambda e, batch: {"loss": 0.5 / e.state.iteration, "lp_s64": 0.1})
    Progress(interactive=False, log=lines.append).attach(engine)
    engine.run(range(5), max_epochs=3)
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3 (5 iterations): ") and "loss=" in lines[0] and "lp_s64=0.1" in lines[0]
    assert lines[-1].startswith("epoch 3/3 (15 iterations)")
