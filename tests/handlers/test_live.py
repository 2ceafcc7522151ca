"""LiveLog (dvclive) on tiny Ignite engines: files, values, resume without repeated steps, images."""
from __future__ import annotations

import json

import pytest
import torch
from ignite.engine import Engine, Events

from vfp.handlers.live import LiveLog
from vfp.runs import read_history


@pytest.fixture(autouse=True)
def _outside_any_repo(tmp_path, monkeypatch):
    # dvclive looks for a DVC repo from the working directory; a temp folder has none, so it only writes
    # files (its DVCLIVE_TEST switch cannot be combined with dvcyaml=False in dvclive 3.49)
    monkeypatch.chdir(tmp_path)
    for var in ("DVC_ROOT", "DVC_EXP_BASELINE_REV", "DVC_EXP_NAME"):
        monkeypatch.delenv(var, raising=False)


def _trainer(values):
    it = iter(values)
    return Engine(lambda e, b: next(it))


def _evaluator():
    ev = Engine(lambda e, b: None)

    @ev.on(Events.COMPLETED)
    def _metrics(engine):
        engine.state.metrics = {"psnr_t1": 20.0 + engine.state.epoch_length, "note": "text"}

    return ev


def _run(run_dir, epochs, outputs, state=None, evaluator=True):
    trainer = _trainer(outputs)
    if state:
        trainer.load_state_dict(state)
    ev = _evaluator() if evaluator else None
    if ev is not None:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: ev.run([0, 1]))
    LiveLog(run_dir).attach(trainer, ev)
    trainer.run(range(2), max_epochs=epochs)
    return trainer


def _tsv(path):
    lines = path.read_text().splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def test_every_scalar_is_an_epoch_mean_per_step_and_val_metrics_too(tmp_path):
    outputs = [{"loss": 1.0, "loss_d": 4.0, "scale_0": 2.0}, {"loss": 3.0, "loss_d": float("nan"), "scale_0": 4.0},
               {"loss": 5.0, "loss_d": 2.0, "scale_0": 6.0}, {"loss": 7.0, "loss_d": 2.0, "scale_0": 8.0}]
    _run(tmp_path, 2, outputs)
    live = tmp_path / "logs"
    header, rows = _tsv(live / "plots/metrics/train/loss.tsv")
    assert header == ["step", "loss"] and rows == [["1", "2.0"], ["2", "6.0"]]
    assert _tsv(live / "plots/metrics/train/loss_d.tsv")[1] == [["1", "4.0"], ["2", "2.0"]]  # NaN skipped
    assert _tsv(live / "plots/metrics/train/scale_0.tsv")[1][-1] == ["2", "7.0"]
    assert _tsv(live / "plots/metrics/val/psnr_t1.tsv")[1] == [["1", "22.0"], ["2", "22.0"]]
    assert not (live / "plots/metrics/val/note.tsv").exists()  # only numbers are curves
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["train"]["loss"] == 6.0 and summary["val"]["psnr_t1"] == 22.0 and summary["step"] == 2
    assert not (live / "dvc.yaml").exists()  # dvc.yaml of the project names the files
    history = read_history(live)  # what the per-model report plots as training losses
    assert history == [{"epoch": 1, "loss": 2.0, "loss_d": 4.0, "scale_0": 3.0},
                       {"epoch": 2, "loss": 6.0, "loss_d": 2.0, "scale_0": 7.0}]
    assert read_history(live, ("train", "val"))[0]["val_psnr_t1"] == 22.0
    assert read_history(tmp_path / "nothing") is None


def test_resume_drops_rows_after_the_restored_epoch_and_continues(tmp_path):
    outputs = [{"loss": float(i)} for i in range(20)]
    _run(tmp_path, 3, outputs)  # steps 1, 2, 3 logged
    live = tmp_path / "logs"
    (live / "plots/images/snapshots/v").mkdir(parents=True)
    for step in (1, 3):
        (live / f"plots/images/snapshots/v/{step}.png").write_bytes(b"png")
    # the checkpoint holds the end of epoch 1 (e.g. a crash after step 3 was logged): resume from it
    _run(tmp_path, 3, [{"loss": 10.0 + i} for i in range(20)],
         state={"iteration": 2, "epoch_length": 2, "max_epochs": 3})
    header, rows = _tsv(live / "plots/metrics/train/loss.tsv")
    assert [r[0] for r in rows] == ["1", "2", "3"]  # no step twice
    assert rows[0] == ["1", "0.5"] and rows[1] == ["2", "10.5"] and rows[2] == ["3", "12.5"]
    assert [r[0] for r in _tsv(live / "plots/metrics/val/psnr_t1.tsv")[1]] == ["1", "2", "3"]
    assert sorted(p.name for p in (live / "plots/images/snapshots/v").iterdir()) == ["1.png"]
    assert json.loads((live / "metrics.json").read_text())["step"] == 3


def test_a_fresh_run_clears_old_curves(tmp_path):
    _run(tmp_path, 3, [{"loss": 1.0}] * 6)
    _run(tmp_path, 1, [{"loss": 2.0}] * 2, evaluator=False)
    assert _tsv(tmp_path / "logs/plots/metrics/train/loss.tsv")[1] == [["1", "2.0"]]
    assert not (tmp_path / "logs/plots/metrics/val").exists()


def test_snapshot_gifs_become_a_frame_strip_per_epoch(tmp_path):
    from PIL import Image

    from vfp.gif import write_gif_pair

    frames = torch.linspace(-1, 1, 6)[:, None, None, None].expand(6, 3, 8, 8).contiguous()
    trainer = _trainer([{"loss": 1.0}] * 4)
    LiveLog(tmp_path).attach(trainer)

    @trainer.on(Events.EPOCH_COMPLETED)
    def _snapshot(engine):  # attached after LiveLog, like training's Snapshots handler
        folder = tmp_path / f"snapshots/epoch_{engine.state.epoch:03d}"
        write_gif_pair(frames[:2], frames[2:], frames[2:], folder, "v_A")

    trainer.run(range(2), max_epochs=2)
    images = sorted((tmp_path / "logs/plots/images/snapshots/v_A").iterdir())
    assert [p.name for p in images] == ["1.png", "2.png"]
    with Image.open(images[-1]) as img:
        assert img.size == (6 * round(32 * 64 / 36), 2 * 64)  # 6 frames (32 px + 4 px bar, scaled to 64) x 2 rows
