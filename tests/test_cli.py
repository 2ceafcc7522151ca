"""The ``vfp`` command: predict on unseen videos, report rebuild, help, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from vfp.cli import main
from vfp.evaluation import MIN_CONTEXT
from vfp.models.registry import build_model
from vfp.modelio import save_trained

AE_NET = {"n_input": 2, "features": [4, 8], "residual": False}
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


@pytest.fixture(scope="module")
def files(tmp_path_factory, write_video) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    out = {
        "mp4": write_video(d / "unseen.mp4", moving_frames(12), codec="libx264"),  # never in any split
        "short_mp4": write_video(d / "short.mp4", moving_frames(4), codec="libx264"),
        "one_frame": write_video(d / "one.mp4", moving_frames(1), codec="libx264"),
        "ae": d / "ae.pt",
        "not_vfp": d / "not_vfp.pt",
        "garbage_mp4": d / "garbage.mp4",
    }
    save_trained(out["ae"], "autoencoder", AE_NET, build_model("autoencoder", **AE_NET), n_output=1)
    torch.save({"x": 1}, out["not_vfp"])
    out["garbage_mp4"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return out


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "vfp.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=120)


def test_predict_unseen_mp4_writes_gif_pair(files, tmp_path, capsys):
    out = tmp_path / "gifs" / "unseen.gif"
    rc = main(["predict", str(files["mp4"]), "--checkpoint", str(files["ae"]), "--steps", "3",
               "--out", str(out), "--size", "32", "32", "--params", str(tmp_path / "absent.yaml")])
    assert rc == 0, capsys.readouterr().err
    expected, generated = tmp_path / "gifs" / "unseen_expected_large.gif", tmp_path / "gifs" / "unseen_generated_large.gif"
    assert n_gif_frames(expected) == 2 + 3  # n_input + steps
    assert n_gif_frames(generated) == 2 + 3
    printed = capsys.readouterr().out
    assert "7..8 every 1 of 12" in printed  # context ends steps*interval frames before the end
    with Image.open(expected) as im:
        assert im.size[0] == 256 and im.size[1] >= 256
    # the expected GIF ends with the video's true last frame (not an earlier one)
    from vfp.data.video import read_frames

    last = iio.imread(expected, index=None)[-1, :256:8, ::8, :3].astype(float)
    truth = read_frames(files["mp4"], [8, 11], (32, 32)).astype(float)
    assert np.abs(last - truth[1]).mean() < np.abs(last - truth[0]).mean()


def test_predict_short_video_writes_generated_only(files, tmp_path, capsys):
    out = tmp_path / "short.gif"
    (tmp_path / "short_expected_large.gif").write_bytes(b"stale")
    rc = main(["predict", str(files["short_mp4"]), "--checkpoint", str(files["ae"]), "--steps", "3",
               "--out", str(out), "--size", "32", "32", "--interval", "1"])
    assert rc == 0
    assert n_gif_frames(tmp_path / "short_generated_large.gif") == 2 + 3
    assert not (tmp_path / "short_expected_large.gif").exists()
    assert "expected GIF not written" in capsys.readouterr().out


def test_predict_size_from_params(files, tmp_path):
    (tmp_path / "params.yaml").write_text("data: {size: [16, 16], interval: 2}\n")
    out = tmp_path / "p.gif"
    rc = main(["predict", str(files["mp4"]), "--checkpoint", str(files["ae"]), "--steps", "2",
               "--out", str(out), "--params", str(tmp_path / "params.yaml")])
    assert rc == 0
    with Image.open(tmp_path / "p_generated_large.gif") as im:
        assert im.size[0] == 256 and im.n_frames == 4


@pytest.mark.parametrize("case, pattern", [
    ("missing", "no such video file"),
    ("garbage", "not a readable video"),
    ("too_short", "needs 2 context frames"),
    ("not_vfp", "not a vfp model file"),
    ("missing_ckpt", "no such model file"),
])
def test_predict_errors_are_one_line(files, tmp_path, case, pattern):
    video, ckpt = files["mp4"], files["ae"]
    if case == "missing":
        video = tmp_path / "nope.mp4"
    elif case == "garbage":
        video = files["garbage_mp4"]
    elif case == "too_short":
        video = files["one_frame"]
    elif case == "not_vfp":
        ckpt = files["not_vfp"]
    elif case == "missing_ckpt":
        ckpt = tmp_path / "none.pt"
    res = run_cli("predict", video, "--checkpoint", ckpt, "--steps", "2", "--out", tmp_path / "o.gif",
                  "--size", "32", "32", cwd=tmp_path)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:") and pattern in lines[0], lines[0]
    assert "Traceback" not in res.stderr + res.stdout
    assert not list(tmp_path.glob("*.gif"))


def test_help_exits_zero(capsys):
    for argv in (["--help"], ["predict", "--help"], ["report", "--help"], ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "_generated_large.gif" in text and "_expected_large.gif" in text


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
