"""End to end: the user workflow on a temporary copy of the repo (own git + the committed DVC state).

`dvc repro` on the default sample with the study's multi-scale GAN (2 epochs of 512 clips to keep CI short)
must produce metrics, plots, GIFs and the report, and the model must beat copy-last at t+1; then
`dvc exp run -S model=autoencoder` (tiny) must reuse the data stages, and `dvc metrics diff` /
`dvc exp show` must line the two runs up key by key.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from tests.dvc_project import commit_all, dvc, project_copy
from vfp.runs import EXPECTED_SUFFIX, GENERATED_SUFFIX

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    def gan_short(params: dict) -> None:  # the study's GAN (its losses, discriminator and report keys are checked)
        params["model"] = "multiscale_gan"
        params["train"].update(epochs=2, clips_per_epoch=512, snapshot_every=1)

    return project_copy(tmp_path_factory.mktemp("project"), gan_short)


def _stale_stages(project: Path, change: dict) -> set[str]:
    """Stages `dvc status` reports as changed after ``change`` to params.yaml (then restored)."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    for section, values in change.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = json.loads(dvc("status", "--json", cwd=project))
    finally:
        path.write_text(original)
    return set(status) - {"model_params"}  # always_changed: it re-resolves the model section on every run


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.srcs.append(attrs.get("src", ""))
        if tag == "table":
            self.tables += 1


def test_repro_then_experiment_then_diff(project: Path):
    # ---- 1. dvc repro: the whole pipeline with the GAN
    out = dvc("repro", cwd=project)
    for stage in ("download", "motion_filter", "split", "train", "evaluate"):
        assert f"Running stage '{stage}'" in out
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    assert metrics["psnr_t1"] > metrics["copy_last_psnr_t1"], metrics  # the GAN beats copy-last
    assert metrics["psnr_gain_t1"] == pytest.approx(metrics["psnr_t1"] - metrics["copy_last_psnr_t1"], abs=1e-3)
    rows = (project / "metrics/per_step.csv").read_text().splitlines()
    assert rows[0].startswith("step,psnr,copy_last_psnr") and len(rows) == 1 + 4

    report = project / "reports/multiscale_gan"
    page = _Page()
    page.feed((report / "index.html").read_text())
    assert page.tables >= 1 and page.srcs
    assert all(not s.startswith(("/", "http")) and (report / s).is_file() for s in page.srcs)
    gifs = sorted(p.name for p in (report / "gifs").glob("*.gif"))
    assert any(n.endswith(EXPECTED_SUFFIX) for n in gifs) and any(n.endswith(GENERATED_SUFFIX) for n in gifs)
    assert all(n.startswith("v_") for n in gifs)
    snapshots = list((project / "models/multiscale_gan/snapshots").rglob("*_generated_large.gif"))
    assert snapshots

    plots = json.loads(dvc("plots", "show", "--json", cwd=project))["data"]
    psnr_plot = json.dumps(plots["PSNR per horizon step (model vs copy-last vs flow)"])
    assert "copy_last_psnr" in psnr_plot and f"{metrics['psnr_t1']}" in psnr_plot  # drawn from this run's CSV
    assert "models/multiscale_gan/logs/plots/metrics/train/loss_g.tsv" in plots  # dvclive curves

    assert "didn't change" in dvc("repro", cwd=project)  # a second repro does nothing
    # split reads data.interval (its temporal gaps are in sampled frames), so it re-runs with train and evaluate
    assert _stale_stages(project, {"data": {"interval": 3}}) == {"split", "train", "evaluate"}
    assert _stale_stages(project, {"seq2seq": {"lr": 0.5}}) == set()  # another model's section retrains nothing
    # dvc status names the stages whose own params changed; the rest re-run only if that stage's output changes
    assert _stale_stages(project, {"motion": {"threshold": 2.0}}) == {"motion_filter"}
    commit_all(project, "baseline: multiscale_gan")

    # ---- 2. a second model as an experiment: data stages are reused, train/evaluate run
    exp = dvc("exp", "run", "-n", "ae-tiny", "-S", "model=autoencoder", "-S", "autoencoder.net.features=[8,16,32]",
               "-S", "train.epochs=1", cwd=project)
    for stage in ("download", "motion_filter", "split"):
        assert f"Running stage '{stage}'" not in exp
    assert "Running stage 'train'" in exp and "Running stage 'evaluate'" in exp
    assert (project / "reports/autoencoder/index.html").is_file()

    # ---- 3. dvc metrics diff: same keys, different model values, identical copy-last values
    diff = json.loads(dvc("metrics", "diff", "--all", "--json", cwd=project))["metrics/metrics.json"]
    baseline_keys = set(metrics)
    assert baseline_keys - {"n_clips"} <= set(diff)
    assert diff["psnr_t1"]["old"] != diff["psnr_t1"]["new"]
    assert diff["copy_last_psnr_t1"]["old"] == diff["copy_last_psnr_t1"]["new"]

    # ---- 4. dvc exp show lists both runs
    shown = json.dumps(json.loads(dvc("exp", "show", "--json", cwd=project)))
    assert "ae-tiny" in shown and "multiscale_gan" in shown and "autoencoder" in shown
