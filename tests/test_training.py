"""vfp.training end to end on tiny synthetic clips: resume, corrupt files, NaN guard, folders, gloo."""
from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vfp.errors import VfpError
from vfp.handlers.checkpoint import checkpoint_files, params_hash, run_params
from vfp.modelio import load_trained
from vfp.models.params import parse_model_config
from vfp.training import run, train

SIZE = 16


class Clips(torch.utils.data.Dataset):
    """Moving squares; random start per (seed, epoch, index) like ClipDataset; NaN from ``nan_epoch``."""

    def __init__(self, n=8, frames=4, seed=0, nan_epoch=None):
        self.n, self.frames, self.seed, self.nan_epoch, self.epoch = n, frames, seed, nan_epoch, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) % 2**31)
        y, x, start = torch.randint(0, SIZE - 4, (3,), generator=g).tolist()
        f = torch.full((self.frames, 3, SIZE, SIZE), -1.0)
        for t in range(self.frames):
            xx = (x + start + t) % (SIZE - 4)
            f[t, :, y : y + 4, xx : xx + 4] = 1.0
        if self.nan_epoch is not None and self.epoch >= self.nan_epoch:
            f[:] = float("nan")
        return {"frames": f, "video": f"v_Sq_g01_c{i:02d}", "start": start}


def make_cfg(model="multiscale_gan", **train):
    t = {"epochs": 2, "batch_size": 4, "val_horizon": 2, "num_workers": 0, "snapshot_every": 1, "snapshot_videos": 1, **train}
    return parse_model_config({
        "model": model, "data": {"size": [SIZE, SIZE]}, "train": t, "evaluate": {"horizon": 2},
        "multiscale_gan": {"net": {"n_input": 2, "scales": [4, 8, 16], "features": [[8]] * 3, "kernels": [3] * 3},
                           "discriminator": {"conv_features": [[4]] * 3, "conv_kernels": [[1], [3], [3]],
                                             "fc": [[8, 1]] * 3}},
        "seq2seq": {"n_output": 2, "net": {"n_input": 2, "embed": 8, "hidden": [8], "stride": 4}},
    })


def go(cfg, out, *, nan_epoch=None, **kw):
    return train(cfg, out_dir=out, train_data=Clips(nan_epoch=nan_epoch), val_data=Clips(3, 4, seed=1),
                 progress=False, **kw)


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("model,crop", [("multiscale_gan", 8), ("seq2seq", 0)])
def test_two_epochs_equal_one_plus_resumed_one(tmp_path, model, crop):
    cfg = make_cfg(model, crop=crop)
    go(cfg, tmp_path / "straight")
    go(cfg, tmp_path / "split", max_epochs=1)
    ckpt_1 = torch.load(checkpoint_files(tmp_path / "split")[-1][1], weights_only=True)
    summary = go(cfg, tmp_path / "split")  # fresh objects, as in a new process
    assert summary["resumed_from"] and summary["epoch"] == 2
    a = torch.load(checkpoint_files(tmp_path / "straight")[-1][1], weights_only=True)
    b = torch.load(checkpoint_files(tmp_path / "split")[-1][1], weights_only=True)
    assert not all(torch.equal(ckpt_1["model"][k], b["model"][k]) for k in b["model"])  # epoch 2 trained
    for part in [k for k in ("model", "discriminator") if k in a]:
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert a["trainer"]["iteration"] == b["trainer"]["iteration"]
    # the dvclive curves kept epoch 1 of the first run and appended epoch 2: the same rows as straight
    curves = sorted((tmp_path / "split" / "logs" / "plots" / "metrics").rglob("*.tsv"))
    assert curves and {p.parent.name for p in curves} == {"train", "val"}
    for path in curves:
        rows = path.read_text().splitlines()
        assert [r.split("\t")[0] for r in rows] == ["step", "1", "2"], path
        twin = tmp_path / "straight" / path.relative_to(tmp_path / "split")
        assert rows == twin.read_text().splitlines(), path


def test_a_model_sections_max_epochs_caps_train_epochs_and_raising_it_resumes(tmp_path, capsys):
    def cfg(cap, epochs=3):
        return parse_model_config({"model": "seq2seq", "data": {"size": [SIZE, SIZE]}, "evaluate": {"horizon": 2},
                                   "train": {"epochs": epochs, "batch_size": 4, "val_horizon": 2, "num_workers": 0},
                                   "seq2seq": {"max_epochs": cap, "n_output": 2,
                                               "net": {"n_input": 2, "embed": 8, "hidden": [8], "stride": 4}}})
    assert go(cfg(1), tmp_path)["epoch"] == 1  # capped: 1, not train.epochs 3
    assert "seq2seq: 1 epochs (seq2seq.max_epochs caps train.epochs 3)" in capsys.readouterr().out
    summary = go(cfg(2), tmp_path)
    assert summary["resumed_from"] and summary["epoch"] == 2
    assert run_params(cfg(1)) == run_params(cfg(2))  # like train.epochs, not part of the run's identity
    assert go(cfg(5, epochs=1), tmp_path / "short")["epoch"] == 1  # a cap above train.epochs changes nothing
    assert go(cfg(0), tmp_path / "uncapped")["epoch"] == 3


def test_corrupt_latest_checkpoint_falls_back_with_warning(tmp_path, capsys):
    cfg = make_cfg("seq2seq")
    go(cfg, tmp_path, max_epochs=2)
    (old, old_path), (latest, latest_path) = checkpoint_files(tmp_path)[-2:]
    latest_path.write_bytes(latest_path.read_bytes()[:100])  # truncated
    (tmp_path / "tmpabc123").write_bytes(b"half-written save")  # killed during an atomic save
    capsys.readouterr()
    summary = go(cfg, tmp_path, max_epochs=3)
    out = capsys.readouterr().out
    warnings = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and latest_path.name in warnings[0]
    assert summary["resumed_from"] == str(old_path)
    assert (tmp_path / (latest_path.name + ".corrupt")).exists()
    assert not list(tmp_path.glob("tmp*")) and not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp*"))
    assert summary["epoch"] == 3


def test_changed_params_start_fresh_and_move_old_aside(tmp_path, capsys):
    go(make_cfg("seq2seq"), tmp_path, max_epochs=1)
    summary = go(make_cfg("seq2seq", grad_clip=0.5), tmp_path, max_epochs=1)
    assert summary["resumed_from"] is None
    assert "starting fresh" in capsys.readouterr().out
    assert list((tmp_path / "stale").glob("*/checkpoint_*.pt"))


def test_run_identity_includes_the_training_data(tmp_path):
    """A resume needs the same data too: other train/val lists, decoder or folder start a fresh run."""
    cfg, split = make_cfg("seq2seq"), tmp_path / "split"
    split.mkdir()
    (split / "train.txt").write_text("A/v_A_g01_c01.avi\n")
    (split / "val.txt").write_text("A/v_A_g02_c01.avi\n")
    base = params_hash(run_params(cfg, split))
    assert params_hash(run_params(cfg, split)) == base
    assert params_hash(run_params(replace(cfg, data=replace(cfg.data, decoder="pyav")), split)) != base
    assert params_hash(run_params(replace(cfg, data=replace(cfg.data, source="folder", folder="/a")), split)) != \
        params_hash(run_params(replace(cfg, data=replace(cfg.data, source="folder", folder="/b")), split))
    (split / "train.txt").write_text("A/v_A_g01_c01.avi\t120\t0\t84\n")  # a temporal segment instead
    assert params_hash(run_params(cfg, split)) != base


def test_nan_loss_stops_names_loss_and_keeps_good_checkpoint(tmp_path):
    cfg = make_cfg("multiscale_gan", epochs=3)
    go(cfg, tmp_path, max_epochs=1)
    [(step, good)] = checkpoint_files(tmp_path)[-1:]
    digest, model_digest = sha(good), sha(tmp_path / "model.pt")
    with pytest.raises(VfpError) as err:
        go(cfg, tmp_path, nan_epoch=2)
    msg = str(err.value)
    assert "loss 'loss_d'" in msg and "nan" in msg and str(good) in msg and "\n" not in msg
    assert [p for _, p in checkpoint_files(tmp_path)] == [good] and sha(good) == digest
    assert sha(tmp_path / "model.pt") == model_digest


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(VfpError, match="file.txt/run"):
        go(make_cfg("seq2seq"), blocker / "run")


def test_copy_last_writes_model_without_training(tmp_path):
    summary = go(make_cfg("copy_last"), tmp_path)
    assert summary["trained"] is False
    name, model = load_trained(tmp_path / "model.pt")
    assert name == "copy_last" and model.n_input == 1


def test_model_file_round_trip_and_bad_file(tmp_path):
    go(make_cfg("seq2seq"), tmp_path, max_epochs=1)
    name, model = load_trained(tmp_path / "model.pt")
    assert name == "seq2seq" and not model.training
    out = model(torch.zeros(1, 2, 3, SIZE, SIZE), 2)
    assert out.shape == (1, 2, 3, SIZE, SIZE)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(VfpError, match="not a vfp model"):
        load_trained(bad)
    with pytest.raises(VfpError, match="not a vfp model"):
        load_trained(checkpoint_files(tmp_path)[-1][1])


def test_snapshots_written_during_training(tmp_path):
    from vfp.gif import gif_frame_count

    go(make_cfg("seq2seq", snapshot_videos=2), tmp_path, max_epochs=2)
    for sub in ("epoch_001", "epoch_002", "latest"):
        for i in (0, 1):
            for kind in ("expected", "generated"):
                path = tmp_path / "snapshots" / sub / f"v_Sq_g01_c{i:02d}_{kind}_large.gif"
                assert path.exists()
            # n_input + horizon frames; the generated GIF is not counted: an untrained residual model
            # predicts copy-last, and Pillow merges identical consecutive GIF frames (vfp.gif issue)
            expected = tmp_path / "snapshots" / sub / f"v_Sq_g01_c{i:02d}_expected_large.gif"
            assert gif_frame_count(expected) == 2 + 2


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    cfg = make_cfg("multiscale_gan", epochs=1)
    summary = run(cfg, nproc_per_node=2, backend="gloo", out_dir=tmp_path, train_data=Clips(),
                  val_data=Clips(3, 4, seed=1), progress=False)
    assert summary["epoch"] == 1
    assert len(checkpoint_files(tmp_path)) == 1 and (tmp_path / "model.pt").exists()


SCRIPT = textwrap.dedent('''
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    from test_training import Clips, make_cfg
    from vfp.errors import VfpError
    from vfp.training import train

    class Slow(Clips):
        def __getitem__(self, i):
            time.sleep(0.02)
            return super().__getitem__(i)

    try:
        s = train(make_cfg("seq2seq", epochs=int(sys.argv[2])), out_dir=sys.argv[1], train_data=Slow(),
                  val_data=Clips(3, 4, seed=1), progress=False)
    except VfpError as err:
        print(f"error: {{err}}", file=sys.stderr)
        sys.exit(1)
    sys.exit(130 if s.get("interrupted") else 0)
''')


def _start(tmp_path, epochs):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    return subprocess.Popen([sys.executable, "-u", str(script), str(tmp_path / "run"), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc, run_dir, timeout=60):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if run_dir.exists() and checkpoint_files(run_dir):
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint appeared (rc {proc.poll()})")


@pytest.mark.slow
def test_sigint_saves_checkpoint_and_exits_cleanly_then_sigkill_and_resume(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(tmp_path, 200)
    _wait_for_checkpoint(proc, run_dir)
    time.sleep(0.5)  # usually mid-epoch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted at epoch" in out
    last = checkpoint_files(run_dir)[-1][0]
    assert f"checkpoint {run_dir / f'checkpoint_{last}.pt'}" in out  # saved at the interrupted iteration

    proc = _start(tmp_path, 200)  # restart, then SIGKILL (no chance to save) and restart again
    end = time.time() + 60
    while checkpoint_files(run_dir)[-1][0] <= last and time.time() < end and proc.poll() is None:
        time.sleep(0.05)  # wait for a checkpoint written after the restart
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert f"checkpoint_{last}.pt" in out and "resuming from" in out
    killed_at = checkpoint_files(run_dir)[-1][0]

    proc = _start(tmp_path, 2)
    out, err = proc.communicate(timeout=120)
    assert f"resuming from {run_dir / f'checkpoint_{killed_at}.pt'}" in out, (proc.returncode, out[-2000:], err[-2000:])
    assert proc.returncode == 0 and "Traceback" not in err


def test_stage_prints_one_line_error_and_returns_1(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parents[1] / "stages"))
    try:
        import train as stage
    finally:
        sys.path.pop(0)
    assert stage.main(["--params", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing.yaml" in err
