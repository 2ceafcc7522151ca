"""The benchmark scripts run in --quick mode and write well-formed results (no timing thresholds)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _run(name: str, out: Path, *args: str, result: str | None = None) -> dict:
    cmd = [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--quick", "--out", str(out), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = out / f"{result or name}.json"
    assert path.is_file(), proc.stdout
    data = json.loads(path.read_text())
    assert data["benchmark"] == name and data["quick"] is True
    assert {"date", "command", "machine"} <= set(data)
    return data


@pytest.mark.slow
def test_loader_benchmark(tmp_path):
    data = _run("loader", tmp_path)
    assert {(r["loader"], r["num_workers"]) for r in data["loaders"]} >= {("cold", 0), ("cached", 0), ("cached", 2)}
    for r in data["loaders"]:
        assert _positive(r["clips_per_s"]) and _positive(r["ratio_to_fastest_model"])
    assert [m["model"] for m in data["models"]] == ["seq2seq", "autoencoder", "multiscale_gan"]
    for m in data["models"]:
        assert _positive(m["step_s"]) and _positive(m["clips_per_s"]) and _positive(m["cached_loader_ratio"])
    assert _positive(data["ratio"]) and _positive(data["cold_ratio"])
    assert data["target"] == 5.0 and isinstance(data["target_met"], bool)
    assert data["target_met"] == (data["ratio"] >= data["target"])


@pytest.mark.slow
def test_step_benchmark(tmp_path):
    data = _run("step", tmp_path)
    assert [m["model"] for m in data["models"]] == ["seq2seq", "autoencoder", "multiscale_gan"]
    for m in data["models"]:
        for key in ("bare_step_s", "engine_step_s", "engine+handlers_step_s", "clips_per_s", "engine_ratio",
                    "handlers_ratio"):
            assert _positive(m[key]), (m["model"], key, m[key])
        assert math.isfinite(m["engine_overhead"]) and math.isfinite(m["handlers_overhead"])
        assert _positive(m["memory"]["peak_mb"]) and "RSS" in m["memory"]["kind"]
        assert m["params"] > 0
    assert m["params_d"] > 0  # multiscale_gan ran with its discriminator
    assert isinstance(data["target_met"], bool) and isinstance(data["target_met_with_handlers"], bool)


@pytest.mark.slow
def test_step_benchmark_bf16_flags(tmp_path):
    """The GPU flags parse and run on CPU (bf16 autocast; channels-last and compile are CUDA-only no-ops)."""
    data = _run("step", tmp_path, "--amp", "bf16", "--channels-last", "--compile", "--models", "autoencoder",
                result="step_bf16_cl_compile")
    assert (data["amp"], data["channels_last"], data["compile"]) == ("bf16", True, True)
    assert [m["model"] for m in data["models"]] == ["autoencoder"]
    assert _positive(data["models"][0]["bare_step_s"])


@pytest.mark.slow
def test_evaluate_benchmark(tmp_path):
    data = _run("evaluate", tmp_path)
    assert [m["model"] for m in data["models"]] == ["seq2seq", "autoencoder", "multiscale_gan"]  # learned models
    assert _positive(data["baselines"]["clips_per_s"])  # copy-last + flow + masks, timed once apart
    for m in data["models"]:
        for key in ("eval_clips_per_s", "forward_clips_per_s", "metrics_clips_per_s", "eval_over_forward",
                    "metrics_fraction_direct"):
            assert _positive(m[key]), (m["model"], key, m[key])
        assert math.isfinite(m["metrics_fraction"])


@pytest.mark.slow
def test_predict_memory_benchmark(tmp_path):
    """vfp predict --mode next on a 10x longer video: both runs predicted every frame; the ratio is reported."""
    data = _run("predict_memory", tmp_path, result="predict_memory_quick")
    short, long = data["rows"]
    assert (short["video_frames"], long["video_frames"]) == (20, 200)
    for row in data["rows"]:
        assert row["frames"] == row["written"] == row["video_frames"] and row["predicted"] > 0
        assert _positive(row["peak_mb"]) and _positive(row["fps"])
    assert _positive(data["ratio"]) and isinstance(data["target_met"], bool)
