"""Slow end to end: `dvc exp run -S evaluate.protocol=mathieu` on the sample (a temporary copy of the repo)
evaluates at the videos' full 240x320 size with the flow baseline and flow-masked moving-area metrics."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COPY = ["dvc.yaml", "params.yaml", "stages", "vfp", ".dvc/config", ".dvcignore", ".gitignore"]

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path) -> str:
    env_path = f"{Path(sys.executable).parent}:{__import__('os').environ.get('PATH', '')}"
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                         env={**__import__("os").environ, "PATH": env_path})
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    return res.stdout


def test_mathieu_protocol_on_the_sample(tmp_path):
    for rel in COPY:
        src, dst = REPO / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__")) if src.is_dir()
         else shutil.copy2(src, dst))
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["model"] = "autoencoder"  # a small, fast model: the protocol is what is tested here
    params["autoencoder"]["net"].update(features=[8, 16, 32])
    params["train"].update(epochs=1, snapshot_every=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["init", "-q"], ["config", "user.name", "t"], ["config", "user.email", "t@vfp.invalid"],
                ["add", "-A"], ["commit", "-qm", "project"]):
        _run(["git", *cmd], tmp_path)
    out = _run([sys.executable, "-m", "dvc", "exp", "run", "-S", "evaluate.protocol=mathieu"], tmp_path)
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
