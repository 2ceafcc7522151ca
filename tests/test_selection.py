"""Model selection (vfp.handlers.selection): the exported epoch is the candidate with the best validation
gain over the stronger of copy-last and flow at t+1; epoch 0 counts when the untrained model predicts one of
them exactly; the decision says plainly when no epoch beat flow and when the model never left its start;
GAN exports an adversarial epoch (or its start)."""
from __future__ import annotations

import json

import pytest
import torch
from ignite.engine import Engine, Events, State

from vfp.handlers.checkpoint import AtomicSaver
from vfp.handlers.selection import Selection, best_files, choose, verdicts
from vfp.models.params import parse_model_config
from vfp.training import train

SIZE = 16


def row(epoch, gain, candidate=True, phase="train", flow=20.0, same=None):
    """A history row: copy-last at 20 dB, flow at ``flow`` dB, the model ``gain`` dB over copy-last."""
    psnr = 20 + gain
    return {"epoch": epoch, "phase": phase, "candidate": candidate, "same_as": same, "psnr_t1": psnr,
            "copy_last_psnr_t1": 20.0, "flow_psnr_t1": flow, "gain_t1": gain, "gain_flow_t1": psnr - flow,
            "gain_best_t1": psnr - max(20.0, flow)}


def test_choose_picks_the_best_candidate_and_says_why():
    chosen = choose([row(0, 0.0, phase="start", same="copy_last"), row(1, 0.4), row(2, 0.9),
                     row(3, 1.5, candidate=False), row(4, 0.2)])
    assert chosen["epoch"] == 2 and chosen["beat_copy_last"] and chosen["val_gain_t1"] == 0.9
    assert "+0.900 dB" in chosen["why"] and "highest validation gain over the stronger baseline (copy-last)" \
        in chosen["why"]
    assert chosen["beat_flow"] and chosen["left_start"] and chosen["verdict"] == []


def test_selection_compares_against_the_stronger_baseline():
    """Flow 2 dB above copy-last: an epoch +1 dB over copy-last loses to flow; the flow start is exported."""
    hist = [row(0, 2.0, phase="start", flow=22.0, same="flow"), row(1, 1.0, flow=22.0), row(2, 1.5, flow=22.0)]
    chosen = choose(hist)
    assert chosen["epoch"] == 0 and chosen["stronger_baseline"] == "flow" and chosen["val_gain_best_t1"] == 0.0
    assert "no epoch beat the stronger baseline (flow)" in chosen["why"] and "predicts exactly flow" in chosen["why"]
    assert chosen["beat_copy_last"] is True and chosen["beat_flow"] is False
    assert "no epoch beat flow on the validation clips (closest: epoch 2 at -0.500 dB" in chosen["why"]
    assert choose([row(1, 1.0, flow=22.0), row(2, 2.5, flow=22.0)])["epoch"] == 2  # +0.5 over flow wins
    weaker_flow = choose([row(1, 1.0, flow=19.0), row(2, 0.5, flow=19.0)])  # copy-last is the stronger here
    assert weaker_flow["epoch"] == 1 and weaker_flow["stronger_baseline"] == "copy_last"
    assert weaker_flow["val_gain_best_t1"] == 1.0


def test_a_model_that_never_left_its_start_says_so_apart_from_losing():
    stuck = verdicts([row(0, 0.0, phase="start", flow=22.0, same="copy_last"),
                      row(1, 0.0, flow=22.0, same="copy_last"), row(2, 0.0, flow=22.0, same="copy_last")])
    assert stuck["left_start"] is False and stuck["beat_flow"] is False
    assert any("never left its start: every trained epoch predicts exactly copy-last" in v for v in stuck["verdict"])
    moved = verdicts([row(0, 0.0, phase="start", flow=22.0, same="copy_last"), row(1, -0.2, flow=22.0)])
    assert moved["left_start"] is True and not any("never left" in v for v in moved["verdict"])
    assert any("no epoch beat flow" in v for v in moved["verdict"])


def test_choose_falls_back_to_the_start_and_says_so_plainly():
    chosen = choose([row(0, 0.0, phase="start", same="copy_last"), row(1, -0.3), row(2, -0.1)])
    assert chosen["epoch"] == 0 and chosen["beat_copy_last"] is False
    assert "no epoch beat the stronger baseline (copy-last)" in chosen["why"]
    assert "epoch 2 at -0.100 dB" in chosen["why"]


def test_choose_without_a_baseline_start_exports_least_bad_and_says_so():
    chosen = choose([row(0, -5.0, candidate=False, phase="start"), row(1, -0.3), row(2, -0.1)])
    assert chosen["epoch"] == 2 and not chosen["beat_copy_last"] and "no epoch beat the stronger" in chosen["why"]
    assert choose([row(1, 1.0, candidate=False)]) is None


def _fake_validation(selection, trainer, evaluator, epoch, gain, diff, flow_diff=9.0):
    trainer.state.epoch = epoch
    evaluator.state.metrics = {"gain_best_t1": gain, "gain_t1": gain, "gain_flow_t1": gain - 1.0,
                               "psnr_t1": 20 + gain, "copy_last_psnr_t1": 20.0, "flow_psnr_t1": 19.0,
                               "copy_last_diff_t1": diff, "flow_diff_t1": flow_diff}
    evaluator.fire_event(Events.COMPLETED)


@pytest.mark.parametrize("start_diff,expected", [(0.0, 0), (0.6, 2)])
def test_selection_keeps_the_best_candidate_file_and_epoch_zero_only_when_a_baseline(tmp_path, start_diff, expected):
    model = torch.nn.Linear(2, 2)
    sel = Selection(tmp_path, model, AtomicSaver(tmp_path), phase_of=lambda e: "train", exportable=lambda p: True,
                    log=lambda m: None)
    trainer, evaluator = Engine(lambda e, b: None), Engine(lambda e, b: None)
    trainer.state, evaluator.state = State(), State()
    sel.attach(trainer, evaluator)
    for epoch, gain in ((0, 0.0), (1, -0.4), (2, -0.2)):
        with torch.no_grad():
            model.weight.fill_(epoch)
        _fake_validation(sel, trainer, evaluator, epoch, gain, start_diff if epoch == 0 else 3.0)
    decision = sel.decision()
    assert decision["epoch"] == expected
    assert [e for _, e, _ in best_files(tmp_path)] == [expected]  # one best file, the selected epoch's
    saved = torch.load(decision["weights_file"], weights_only=True)
    assert torch.all(saved["weight"] == expected)
    state = sel.state_dict()  # checkpointed: a resumed run decides over the earlier epochs too
    again = Selection(tmp_path, model, AtomicSaver(tmp_path), phase_of=lambda e: "train", exportable=lambda p: True)
    again.load_state_dict(state)
    assert [r["epoch"] for r in again.history] == [0, 1, 2] and again.history[0]["candidate"] == (expected == 0)


def test_a_start_equal_to_the_flow_baseline_is_a_candidate_even_where_its_phase_is_not(tmp_path):
    lines = []
    sel = Selection(tmp_path, torch.nn.Linear(2, 2), AtomicSaver(tmp_path), phase_of=lambda e: "g_warmup",
                    exportable=lambda p: p == "joint", log=lines.append)
    trainer, evaluator = Engine(lambda e, b: None), Engine(lambda e, b: None)
    trainer.state, evaluator.state = State(), State()
    sel.attach(trainer, evaluator)
    _fake_validation(sel, trainer, evaluator, 0, 0.5, diff=4.0, flow_diff=0.0)
    _fake_validation(sel, trainer, evaluator, 1, 0.7, diff=4.0)
    assert [r["candidate"] for r in sel.history] == [True, False] and sel.history[0]["same_as"] == "flow"
    assert "predicts exactly flow" in lines[0] and "flow 19.00 dB" in lines[0]
    assert "not a candidate: phase g_warmup is not exported" in lines[1]
    assert sel.decision()["epoch"] == 0


class Clips(torch.utils.data.Dataset):
    def __init__(self, n=8, frames=4, size=SIZE, seed=0):
        self.n, self.frames, self.size, self.seed = n, frames, size, seed

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1000 + i)
        y, x = torch.randint(0, self.size - 6, (2,), generator=g).tolist()
        f = torch.full((self.frames, 3, self.size, self.size), -1.0)
        for t in range(self.frames):
            f[t, :, y : y + 4, (x + t) % (self.size - 4) : (x + t) % (self.size - 4) + 4] = 1.0
        return {"frames": f, "video": f"v{i}", "start": 0}


def _cfg(model, **sections):
    return parse_model_config({
        "model": model, "data": {"size": [SIZE, SIZE]}, "evaluate": {"horizon": 2},
        "train": {"epochs": 2, "batch_size": 4, "val_horizon": 2, "num_workers": 0, "snapshot_videos": 0},
        "multiscale_gan": {"net": {"n_input": 2, "scales": [4, 8, 16], "features": [[8]] * 3, "kernels": [3] * 3,
                                   "residual_base": "last_frame"},
                           "discriminator": {"conv_features": [[4]] * 3, "conv_kernels": [[1], [3], [3]],
                                             "fc": [[8, 1]] * 3},
                           "schedule": {"g_warmup_epochs": 1}},
        "seq2seq": {"n_output": 2, "net": {"n_input": 2, "embed": 8, "hidden": [8], "stride": 4}},
        **sections,
    })


def test_untrained_copy_last_start_is_exported_when_nothing_learns(tmp_path, capsys):
    cfg = _cfg("seq2seq", seq2seq={"lr": 0.0, "n_output": 2,
                                   "net": {"n_input": 2, "embed": 8, "hidden": [8], "stride": 4}})
    summary = train(cfg, out_dir=tmp_path, train_data=Clips(), val_data=Clips(4, seed=1), progress=False)
    assert summary["exported_epoch"] == 0 and summary["exported_phase"] == "start"
    assert summary["beat_copy_last"] is False and summary["left_start"] is False
    assert "no epoch beat the stronger baseline" in summary["selected"]["why"]
    on_disk = json.loads((tmp_path / "logs" / "summary.json").read_text())
    assert on_disk["selected"]["epoch"] == 0 and [r["epoch"] for r in on_disk["selected"]["history"]] == [0, 1, 2]
    assert on_disk["left_start"] is False and on_disk["beat_flow"] in (True, False)
    out = capsys.readouterr().out
    assert "exporting epoch 0 [start]: no epoch beat the stronger baseline" in out
    assert "\nthe model never left its start: every trained epoch predicts exactly copy-last" in out


def test_a_flow_base_run_that_learns_nothing_exports_its_flow_start(tmp_path, capsys):
    cfg = _cfg("autoencoder", autoencoder={"base": "flow", "lr": 0.0, "net": {"n_input": 2, "features": [8, 16]}})
    summary = train(cfg, out_dir=tmp_path, train_data=Clips(), val_data=Clips(4, seed=1), progress=False)
    hist = summary["selected"]["history"]
    assert [r["same_as"] for r in hist] == ["flow"] * 3 and hist[0]["candidate"]
    assert summary["exported_epoch"] == 0 and summary["left_start"] is False and summary["beat_flow"] is False
    assert "never left its start: every trained epoch predicts exactly flow" in capsys.readouterr().out
    saved = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    assert saved["base"] == "flow" and saved["flow"]["method"] == cfg.flow.method


def test_gan_export_comes_from_an_adversarial_epoch_or_its_start(tmp_path):
    summary = train(_cfg("multiscale_gan"), out_dir=tmp_path, train_data=Clips(), val_data=Clips(4, seed=1),
                    progress=False)
    hist = {r["epoch"]: r for r in summary["selected"]["history"]}
    assert hist[0]["phase"] == "start" and hist[0]["candidate"] and hist[0]["same_as"] == "copy_last"
    assert hist[1]["phase"] == "g_warmup" and not hist[1]["candidate"]  # trained without D: not a GAN
    assert hist[2]["phase"] == "joint" and hist[2]["candidate"]
    best = max((hist[0], hist[2]), key=lambda r: (r["gain_best_t1"], -r["epoch"]))
    assert summary["exported_epoch"] == best["epoch"] and summary["exported_phase"] == best["phase"]
    saved = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    assert saved["phase"] == best["phase"] and saved["epoch"] == best["epoch"]
    weights = torch.load(summary["selected"]["weights_file"], map_location="cpu", weights_only=True)
    assert all(torch.equal(saved["state_dict"][k], weights[k]) for k in weights)


def test_report_says_which_epoch_was_exported_and_why(tmp_path):
    from vfp.report import write_report
    from vfp.runs import read_selection

    logs = tmp_path / "logs"
    logs.mkdir()
    chosen = choose([row(0, 0.0, phase="start", same="copy_last"), row(1, -0.2)])
    (logs / "summary.json").write_text(json.dumps({"selected": chosen}))
    steps = {"model": {"psnr": [20.0]}, "copy_last": {"psnr": [20.0]}}
    page = write_report(tmp_path / "report", model="m", flat=None, steps=steps, loss_history=None, gif_pairs=[],
                        selection=read_selection(logs)).read_text()
    assert "Exported weights: epoch 0 [start]" in page and "no epoch beat the stronger baseline" in page
    assert '<p id="verdict"' in page and "No epoch beat flow on the validation clips" in page
    assert read_selection(tmp_path / "nowhere") is None
