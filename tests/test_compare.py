"""vfp compare: experiments from a real (tiny) DVC repo, merging twins, predictions, the page itself."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from vfp.compare import Experiment, differing_params, list_experiments, merge_twins, predict_clips
from vfp.compare_page import write_page


def _model_bytes(tmp_path: Path, size=(8, 8), interval=2, name="m.pt") -> bytes:
    from vfp.modelio import save_trained
    from vfp.models.registry import build_model

    torch.manual_seed(0)
    net = {"n_input": 1, "features": [4, 8], "residual": True}
    model = build_model("autoencoder", **net)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # not the zero-initialised copy-last start
    path = save_trained(tmp_path / name, "autoencoder", net, model, n_output=1,
                        extra={"size": list(size), "interval": interval})
    return Path(path).read_bytes()


def _exp(name, model="autoencoder", lr=0.1, psnr=20.0, model_bytes=None, note=""):
    metrics = {f"psnr_t{k}": psnr - k for k in (1, 2)} | {f"copy_last_psnr_t{k}": 18.0 - k for k in (1, 2)}
    metrics |= {f"ssim_t{k}": 0.5 for k in (1, 2)} | {f"copy_last_ssim_t{k}": 0.4 for k in (1, 2)}
    return Experiment(name=name, rev=None if name == "workspace" else f"{abs(hash(name)):040x}"[:40],
                      params={"model": model, f"{model}.lr": lr, "seed": 0}, metrics=metrics,
                      train_metrics={"step": 2, "train.loss": 0.01, "val.psnr_t1": 21.5},
                      model_bytes=model_bytes, note=note)


def test_merge_twins_joins_identical_states_and_keeps_the_named_one():
    ws, base = _exp("workspace", lr=0.2, model_bytes=b"x"), _exp("main", model_bytes=b"y")
    other = _exp("other", lr=0.2, model_bytes=b"x")
    ws.params["compare.clips"] = 8  # page settings define no experiment
    merged = merge_twins([ws, base, other])
    assert [e.name for e in merged] == ["other (= workspace)", "main"]
    diff_model = _exp("other", lr=0.2, model_bytes=b"z")  # same params and metrics, other weights: two rows
    assert len(merge_twins([_exp("workspace", lr=0.2, model_bytes=b"x"), diff_model])) == 2
    assert differing_params(merged) == ["autoencoder.lr"]


def test_predictions_for_a_model_read_from_bytes_and_reasons_when_none(tmp_path):
    clips = [torch.rand(6, 3, 8, 8) * 2 - 1 for _ in range(2)]
    exp = _exp("a", model_bytes=_model_bytes(tmp_path))
    preds = predict_clips(exp, clips, n_ctx=4, horizon=2, size=(8, 8), interval=2)
    assert [tuple(p.shape) for p in preds] == [(2, 3, 8, 8)] * 2
    assert not torch.allclose(preds[0][0], clips[0][3])  # not copy-last: the model ran
    other = predict_clips(exp, clips, n_ctx=4, horizon=2, size=(8, 8), interval=3)
    assert other == "trained at size [8, 8], interval 2: not these clips"
    missing = _exp("b", note="model file models/autoencoder/model.pt is missing at this revision")
    reason = predict_clips(missing, clips, 4, 2, (8, 8), 2)
    assert reason.startswith("model file models/autoencoder/model.pt is missing")
    assert "not a vfp model file" in predict_clips(_exp("c", model_bytes=b"junk"), clips, 4, 2, (8, 8), 2)


def test_page_has_a_row_per_experiment_and_a_column_per_method(tmp_path):
    clips = [(f"v_A_g01_c0{i}", torch.rand(6, 3, 8, 8) * 2 - 1) for i in range(3)]
    exps = [_exp("main", psnr=25.0, model_bytes=b"1"), _exp("other", lr=0.2, model_bytes=b"2"),
            _exp("gone", lr=0.3, note="model file models/autoencoder/model.pt is missing at this revision")]
    preds = {id(exps[0]): [c[4:] for _, c in clips], id(exps[1]): [c[4:] * 0 for _, c in clips],
             id(exps[2]): exps[2].note}
    out = tmp_path / "reports" / "compare"
    (out / "clips").mkdir(parents=True)
    (out / "clips" / "stale.png").write_bytes(b"old")  # the folder is replaced whole
    index = write_page(out, exps, differing_params(exps), clips, preds, n_ctx=4, horizon=2, scale=3)
    page = index.read_text()
    assert page.count("<tr class=experiment>") == 3 and "missing at this revision" in page
    methods = re.findall(r"<th class=method>([^<]+)</th>", page)
    assert methods == ["context", "truth", "copy-last", "main", "other", "gone"]
    assert "autoencoder.lr=0.2" in page and "24.00 <span class=cl>17.00</span>" in page  # t+1 beside copy-last
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) == 1 + 3 * 5 and all((out / s).is_file() for s in srcs)  # per-step figure + 3 clips x 5
    assert not (out / "clips" / "stale.png").exists()
    from PIL import Image

    with Image.open(out / "clips" / "00_context.png") as ctx, Image.open(out / "clips" / "00_exp1.png") as pred:
        assert ctx.size == (24, 4 * 24 + 3 * 3) and pred.size == (24, 2 * 24 + 3)  # frames stacked, same scale


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _dvc(*args, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def test_experiments_come_from_dvc_with_their_model_files(tmp_path):
    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    _git("config", "user.email", "t@vfp.invalid", cwd=repo)
    _git("config", "user.name", "t", cwd=repo)
    _dvc("init", "-q", cwd=repo)
    (repo / "params.yaml").write_text("model: autoencoder\nautoencoder: {lr: 0.1}\n")
    (repo / "dvc.yaml").write_text("metrics:\n  - metrics/metrics.json\n  - models/${model}/logs/metrics.json\n")
    model = repo / "models" / "autoencoder"
    (model / "logs").mkdir(parents=True)
    (model / "logs" / "metrics.json").write_text(json.dumps({"step": 1, "train": {"loss": 0.5}}))
    (repo / "metrics" / "metrics.json").write_text(json.dumps({"psnr_t1": 20.0}))
    (model / "model.pt").write_bytes(b"base weights")
    _dvc("add", "-q", "models/autoencoder/model.pt", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-qm", "base", cwd=repo)
    (repo / "params.yaml").write_text("model: autoencoder\nautoencoder: {lr: 0.2}\n")
    (repo / "metrics" / "metrics.json").write_text(json.dumps({"psnr_t1": 21.0}))
    (model / "model.pt").unlink()
    (model / "model.pt").write_bytes(b"other weights")
    _dvc("add", "-q", "models/autoencoder/model.pt", cwd=repo)
    _dvc("exp", "save", "-q", "-n", "other", cwd=repo)
    exps = {e.name: e for e in list_experiments(repo)}
    assert set(exps) == {"workspace", "master", "other"} or set(exps) == {"workspace", "main", "other"}
    base = exps.get("master") or exps["main"]
    assert base.model_bytes == b"base weights" and exps["other"].model_bytes == b"other weights"
    assert exps["other"].params["autoencoder.lr"] == 0.2 and exps["other"].metrics == {"psnr_t1": 21.0}
    assert base.train_metrics == {"step": 1, "train.loss": 0.5}
    assert [e.name for e in merge_twins(list(exps.values()))].count("other (= workspace)") == 1
    # a model file gone from the cache: that experiment's row says so
    for obj in (repo / ".dvc" / "cache").rglob("*"):
        if obj.is_file() and obj.read_bytes() == b"base weights":
            obj.unlink()
    exps = {e.name: e for e in list_experiments(repo)}
    base = exps.get("master") or exps["main"]
    assert base.model_bytes is None and "missing" in base.note and exps["other"].model_bytes == b"other weights"


def test_cli_outside_a_dvc_repo_is_one_error_line(tmp_path, monkeypatch, capsys):
    from vfp.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model: copy_last\n")
    assert main(["compare"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "not a DVC repository" in err[0]
