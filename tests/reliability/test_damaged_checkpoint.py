"""Damaged checkpoint and model bytes are never trusted (issue: damaged content trusted; a damaged
best_model_*.pt at export; a NaN message that said to resume from the very file that failed)."""
from __future__ import annotations

import pytest
import torch

from vfp.errors import VfpError
from vfp.handlers.checkpoint import best_files, checkpoint_files
from vfp.modelio import load_trained
from vfp.models.params import parse_model_config
from vfp.training import train

SIZE = 16


class Squares(torch.utils.data.Dataset):
    """A 4x4 square moving right; its start is a pure function of (seed, epoch, index)."""

    def __init__(self, n=8, seed=0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) % 2**31)
        y, x = torch.randint(0, SIZE - 4, (2,), generator=g).tolist()
        f = torch.full((4, 3, SIZE, SIZE), -1.0)
        for t in range(4):
            f[t, :, y:y + 4, (x + t) % (SIZE - 4):(x + t) % (SIZE - 4) + 4] = 1.0
        return {"frames": f, "video": f"v_Sq_g01_c{i:02d}", "start": 0}


CFG = parse_model_config({"model": "seq2seq", "data": {"size": [SIZE, SIZE]}, "evaluate": {"horizon": 2},
                    "train": {"epochs": 3, "batch_size": 4, "val_horizon": 2, "num_workers": 0, "snapshot_videos": 0},
                    "seq2seq": {"n_output": 2, "net": {"n_input": 2, "embed": 8, "hidden": [8], "stride": 4}}})


def _train(out, **kw):
    return train(CFG, out_dir=out, train_data=Squares(), val_data=Squares(3, seed=1), progress=False, **kw)


def _zero_middle(path, length=256):
    """Zero bytes inside the largest tensor record, keeping the file's size (torch.load still loads it)."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    data[start:start + length] = bytes(length)
    path.write_bytes(bytes(data))


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_checkpoint_with_zeroed_bytes_is_skipped_and_the_result_equals_an_uninterrupted_run(tmp_path, capsys):
    _train(tmp_path / "straight")
    _train(tmp_path / "run", max_epochs=2)
    (_, older), (_, latest) = checkpoint_files(tmp_path / "run")[-2:]
    _zero_middle(latest)
    torch.load(latest, weights_only=True)  # the damage is invisible to torch.load
    capsys.readouterr()
    summary = _train(tmp_path / "run")
    warnings = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and latest.name in warnings[0] and "checksum" in warnings[0]
    assert summary["resumed_from"] == str(older) and (latest.parent / f"{latest.name}.corrupt").is_file()
    a, b = _state(tmp_path / "straight" / "model.pt"), _state(tmp_path / "run" / "model.pt")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_damaged_best_model_at_export_is_one_line(tmp_path):
    _train(tmp_path)
    (_, _, best), = best_files(tmp_path)[-1:]
    _zero_middle(best)
    with pytest.raises(VfpError) as err:
        _train(tmp_path)  # complete: nothing to train, export again from the selected epoch's file
    message = str(err.value)
    assert "\n" not in message and best.name in message and "damaged" in message and "checksum" in message
    assert "train.resume: never" in message and (best.parent / f"{best.name}.corrupt").is_file()
    with pytest.raises(VfpError, match="is missing"):  # run again without retraining: still one line
        _train(tmp_path)


def test_damaged_model_file_is_refused_in_one_line(tmp_path):
    _train(tmp_path, max_epochs=1)
    _zero_middle(tmp_path / "model.pt")
    with pytest.raises(VfpError, match=r"damaged model file \(record .* fails its checksum\)"):
        load_trained(tmp_path / "model.pt")


def test_nan_right_after_resume_does_not_point_at_the_resumed_checkpoint(tmp_path):
    """A checkpoint whose bytes are intact but whose weights are not finite (damaged before it was saved,
    or edited): the run stops at once, and the message must not say to resume from that same file."""
    _train(tmp_path, max_epochs=1)
    (_, latest), = checkpoint_files(tmp_path)[-1:]
    state = _state(latest)
    for key, value in state["model"].items():
        if value.is_floating_point():
            state["model"][key] = torch.full_like(value, float("nan"))
    torch.save(state, latest)
    with pytest.raises(VfpError) as err:
        _train(tmp_path)
    message = str(err.value)
    assert "became nan" in message and f"resumed from {latest}" in message
    assert f"resume from the last good checkpoint {latest}" not in message and "move it aside" in message
