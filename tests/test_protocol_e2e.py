"""Slow end to end: `dvc exp run -S evaluate.protocol=mathieu` on the sample (a temporary copy of the repo)
evaluates at the videos' full 240x320 size with the flow baseline and flow-masked moving-area metrics."""
from __future__ import annotations

import json
import re

import pytest

from tests.dvc_project import dvc, project_copy

pytestmark = pytest.mark.slow


def _tiny_autoencoder(params: dict) -> None:
    params["model"] = "autoencoder"  # a small, fast model: the protocol is what is tested here
    params["autoencoder"]["net"].update(features=[8, 16, 32])
    params["train"].update(epochs=1, clips_per_epoch=512, snapshot_every=1)


def test_mathieu_protocol_on_the_sample(tmp_path):
    project_copy(tmp_path, _tiny_autoencoder)
    out = dvc("exp", "run", "-S", "evaluate.protocol=mathieu", cwd=tmp_path)
    flat = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert (flat["eval_height"], flat["eval_width"]) == (240, 320)
    assert flat["n_clips"] == 4  # every 10th of the sample's 36 test videos: 1st, 11th, 21st, 31st
    for key in ("flow_psnr_t1", "psnr_moving_t1", "copy_last_psnr_t1", "psnr_t2", "psnr_gain_flow_t2"):
        assert flat[key] is not None, key
    assert "psnr_t3" not in flat  # horizon 2
    assert flat["flow_psnr_t1"] > flat["copy_last_psnr_t1"]  # the sample pans textures: flow extrapolates them
    html = (tmp_path / "reports" / "autoencoder" / "index.html").read_text()
    head = re.search(r'<table id="metrics-table"><thead><tr>(.*?)</tr>', html).group(1)
    assert re.findall(r"<th>(.*?)</th>", head)[2:5] == ["autoencoder", "copy-last", "flow"]
    assert "at 240x320" in out
