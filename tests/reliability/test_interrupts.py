"""Ctrl-C in the middle of an epoch, then resume: the same iterations and bit-identical weights as an
uninterrupted run (issue: the resumed epoch ran its batches again, 89 iterations instead of 72)."""
from __future__ import annotations

import os
import signal

import torch
from test_damaged_checkpoint import CFG, Squares, _state  # noqa: E402 (tests/reliability on sys.path)

from vfp.handlers.checkpoint import checkpoint_files
from vfp.training import train


class CtrlC(Squares):
    """Squares that press Ctrl-C (SIGINT to this process) when item ``index`` of epoch ``epoch`` is read."""

    def __init__(self, at: tuple[int, int], **kw):
        super().__init__(**kw)
        self.at = at

    def __getitem__(self, i):
        if (self.epoch, i) == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().__getitem__(i)


def _go(out, data):
    return train(CFG, out_dir=out, train_data=data, val_data=Squares(3, seed=1), progress=False)


def test_sigint_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight = _go(tmp_path / "straight", Squares(16))  # 4 iterations per epoch, 3 epochs
    assert straight["iteration"] == 12
    order = torch.randperm(16, generator=torch.Generator().manual_seed(1_000_003 * 0 + 2)).tolist()
    stopped = _go(tmp_path / "run", CtrlC((2, order[9]), n=16))  # in epoch 2's third batch
    assert stopped["interrupted"] and stopped["epoch"] == 2 and 4 < stopped["iteration"] < 8
    (saved, _), = checkpoint_files(tmp_path / "run")[-1:]
    assert saved == stopped["iteration"]  # a mid-epoch checkpoint
    resumed = _go(tmp_path / "run", Squares(16))
    assert resumed["resumed_from"] and resumed["iteration"] == 12 and resumed["epoch"] == 3
    a, b = _state(tmp_path / "straight" / "model.pt"), _state(tmp_path / "run" / "model.pt")
    assert a["epoch"] == b["epoch"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    last_a, last_b = (torch.load(checkpoint_files(d)[-1][1], weights_only=True) for d in
                      (tmp_path / "straight", tmp_path / "run"))
    assert all(torch.equal(last_a["model"][k], last_b["model"][k]) for k in last_a["model"])
