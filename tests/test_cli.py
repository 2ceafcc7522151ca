"""The ``vfp`` command: report rebuild, cache, help, one-line errors (predict: tests/test_predict.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from vfp.cli import main
from vfp.testset import MIN_CONTEXT

REPO = Path(__file__).resolve().parents[1]


def moving_frames(n: int, h: int = 64, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        frames[t, ..., 0] = ((xx + 4 * t) % 32) * 8
        frames[t, ..., 1] = ((yy * 2 + 5 * t) % 64) * 4
        frames[t, ..., 2] = ((xx + yy + 3 * t) % 16) * 16
    return frames


def n_gif_frames(path: Path) -> int:
    with Image.open(path) as im:
        return im.n_frames


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "vfp.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=120)


def test_help_exits_zero(capsys):
    for argv in (["--help"], ["predict", "--help"], ["export", "--help"], ["report", "--help"], ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--mode" in text and "--side-by-side" in text and "--format" in text


def test_evaluate_help_names_both_baselines_and_params_is_declared_once(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse wraps after hyphens
    assert "copy-last" in text and "flow" in text and "--params" in text and "--split-dir" in text
    source = (REPO / "vfp" / "cli.py").read_text()
    assert source.count('"--params"') == 1  # one parent parser holds the shared option


def test_vfp_entry_point_help():
    res = run_cli("--help")
    assert res.returncode == 0 and "predict" in res.stdout and "report" in res.stdout


def test_report_rebuilds_without_model(tmp_path, monkeypatch, write_video):
    """The evaluate stage on copy_last (no model file), delete the page, rebuild it with `vfp report`."""
    monkeypatch.chdir(tmp_path)
    path = write_video(tmp_path / "raw" / "Pan" / "v_Pan_g01_c01.avi", moving_frames(10), codec="mpeg4")
    (tmp_path / "data" / "split").mkdir(parents=True)
    (tmp_path / "data" / "split" / "test.txt").write_text(f"{path}\t10\n")
    raw = {"model": "copy_last", "data": {"size": [32, 32], "interval": 1, "cache": ""},
           "train": {"num_workers": 0}, "evaluate": {"horizon": 2, "gifs": 1}}
    (tmp_path / "params.yaml").write_text(json.dumps(raw))  # JSON is YAML
    res = subprocess.run([sys.executable, str(REPO / "stages" / "evaluate.py")], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("evaluated 1 test clips at 32x32")  # timing line, then the summary
    summary = lines[1:]
    assert len(summary) == 3 and summary[0].startswith("psnr t+1: copy_last") and "gain +0.00 dB" in summary[0]
    assert summary[1].startswith("ssim t+1:") and "1 test clips" in summary[2]
    page = tmp_path / "reports" / "copy_last" / "index.html"
    before = page.read_text()
    page.unlink()
    assert not (tmp_path / "models").exists()
    assert main(["report"]) == 0
    assert page.read_text() == before
    assert "v_Pan_g01_c01_expected_large.gif" in before
    gif = tmp_path / "reports" / "copy_last" / "gifs" / "v_Pan_g01_c01_expected_large.gif"
    assert n_gif_frames(gif) == MIN_CONTEXT + 2


def test_report_without_metrics_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("model: copy_last\n")
    res = run_cli("report", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("error:") and len(res.stderr.strip().splitlines()) == 1
    assert "metrics.json" in res.stderr and "Traceback" not in res.stderr


def test_cache_command_fills_every_split_video_once(tmp_path, sample_split, capsys):
    from vfp.cli import main
    from vfp.data.splits import SPLIT_NAMES, read_split

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["data"].update(size=[32, 32], cache=str(tmp_path / "cache"))
    raw["train"].update(crop=0)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    n_videos = sum(len(read_split(sample_split, name)) for name in SPLIT_NAMES)
    args = ["cache", "--params", str(params), "--split-dir", str(sample_split), "--workers", "2"]
    assert main(args) == 0
    assert f"{n_videos} decoded, 0 already cached, 0 failed" in capsys.readouterr().out
    files = sorted((tmp_path / "cache" / "32x32").rglob("*.npy"))
    assert len(files) == n_videos
    assert np.load(files[0]).shape[1:] == (32, 32, 3)
    assert main(args) == 0  # resumable: nothing left to decode
    assert f"0 decoded, {n_videos} already cached" in capsys.readouterr().out
