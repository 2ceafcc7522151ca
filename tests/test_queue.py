"""DVC experiment queue end to end: two queued experiments run by two workers at once land in `dvc exp show`.

A temp copy of the project (dvc.yaml, params.yaml with tiny settings, stages/, vfp/ as the stages'
file deps, .dvc/config, .dvcignore, .gitignore) is made a git repo; ``dvc repro`` fills the cache, then
``dvc exp run --queue -S autoencoder.lr=...`` twice and ``dvc queue start --jobs 2``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LRS = ("0.001", "0.002")
DEADLINE_S = 240


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # stages run `python`
    env.update(GIT_AUTHOR_NAME="vfp test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="vfp test", GIT_COMMITTER_EMAIL="test@example.invalid")
    return env


def _run(cwd: Path, *cmd: str, timeout: float = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _dvc(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return _run(cwd, sys.executable, "-m", "dvc", *args, timeout=timeout)


TIMED = """import subprocess, sys, time
start = time.time()
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "a") as log:
    log.write(f"{start} {time.time()}\\n")
sys.exit(code)
"""


def _tiny_project(dest: Path, tiny_params, times: Path) -> Path:
    """The project, its train stage wrapped so that each run appends ``<start> <end>`` to ``times``."""
    dest.mkdir()
    for name in (".dvcignore", ".gitignore"):
        shutil.copy2(REPO / name, dest / name)
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    pipeline["stages"]["train"]["cmd"] = f"python timed.py {times} {pipeline['stages']['train']['cmd']}"
    (dest / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (dest / "timed.py").write_text(TIMED)
    (dest / ".dvc").mkdir()
    shutil.copy2(REPO / ".dvc" / "config", dest / ".dvc" / "config")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "stages", dest / "stages", ignore=ignore)
    shutil.copytree(REPO / "vfp", dest / "vfp", ignore=ignore)  # file deps of the stages (imports use the install)
    tiny_params(
        dest,
        model="autoencoder",
        data={"size": [16, 16], "interval": 2, "cache": ""},
        train={"epochs": 1, "batch_size": 4, "crop": 0, "clips_per_video": 1, "num_workers": 0, "snapshot_videos": 0,
               "device": "cpu"},
        autoencoder={"lr": 0.0003, "n_output": 1, "net": {"n_input": 1, "features": [4, 8], "residual": True}},
        evaluate={"horizon": 2, "batch_size": 4, "gifs": 0},
    )
    return dest


def _params_of(node) -> list[dict]:
    """Every ``params.yaml`` params dict in the (nested) `dvc exp show --json` output, with its names."""
    found = []
    if isinstance(node, dict):
        data = node.get("data") if isinstance(node.get("data"), dict) else None
        params = (data or {}).get("params", {}).get("params.yaml", {}).get("data")
        if isinstance(params, dict):
            metrics = (data or {}).get("metrics", {}).get("metrics/metrics.json", {}).get("data", {})
            found.append({"params": params, "name": node.get("name"), "rev": node.get("rev"),
                          "metrics": metrics})
        for value in node.values():
            found.extend(_params_of(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_params_of(value))
    return found


@pytest.mark.slow
def test_two_queued_experiments_run_in_parallel(tmp_path, tiny_params):
    times = tmp_path / "train_times.log"
    project = _tiny_project(tmp_path / "project", tiny_params, times)
    _run(project, "git", "init", "-q", "-b", "main")
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "-q", "-m", "tiny vfp project")
    _dvc(project, "repro")  # data stages (and a first train/evaluate) cached: the experiments reuse them
    assert (project / "metrics" / "metrics.json").is_file()
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "-q", "-m", "repro")

    for lr in LRS:
        _dvc(project, "exp", "run", "--queue", "-S", f"autoencoder.lr={lr}")
    assert yaml.safe_load((project / "params.yaml").read_text())["autoencoder"]["lr"] == 0.0003  # workspace kept
    try:
        # not _dvc(): the workers `queue start` leaves running inherit its stdout/stderr, so capturing
        # them into pipes would wait for the workers to exit; a log file only waits for `queue start`.
        with open(project / "queue_start.log", "w") as log:
            started = subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "--jobs", "2"], cwd=project,
                                     env=_env(), stdout=log, stderr=subprocess.STDOUT, timeout=120)
        assert started.returncode == 0, (project / "queue_start.log").read_text()
        deadline = time.monotonic() + DEADLINE_S
        while True:
            status = _dvc(project, "queue", "status").stdout
            if not any(word in status for word in ("Queued", "Running")):
                break
            assert time.monotonic() < deadline, f"queue not done after {DEADLINE_S} s:\n{status}"
            time.sleep(3)
        assert "Failed" not in status, status + "\n" + _dvc(project, "queue", "logs", "--help").stdout
    finally:
        subprocess.run([sys.executable, "-m", "dvc", "queue", "stop"], cwd=project, env=_env(),
                       capture_output=True, text=True, timeout=60)

    shown = json.loads(_dvc(project, "exp", "show", "--json").stdout)
    experiments = [e for e in _params_of(shown) if e["name"] and e["rev"] not in ("workspace",)]
    by_lr = {}
    for e in experiments:
        lr = e["params"].get("autoencoder", {}).get("lr")
        by_lr.setdefault(str(lr), []).append(e)
    for lr in LRS:
        assert lr in by_lr, f"no experiment with autoencoder.lr={lr} in dvc exp show: {experiments}"
        assert all(e["params"]["model"] == "autoencoder" for e in by_lr[lr])
        assert any(isinstance(e["metrics"].get("psnr_t1"), float) for e in by_lr[lr]), by_lr[lr]  # evaluate ran
    names = {e["name"] for lr in LRS for e in by_lr[lr]}
    assert len(names) >= 2, names  # two distinct experiments
    runs = [tuple(map(float, line.split())) for line in times.read_text().splitlines()]
    assert len(runs) == 3, runs  # the first repro, then one train per queued experiment
    (start_a, end_a), (start_b, end_b) = runs[1:]
    assert max(start_a, start_b) < min(end_a, end_b), f"the two trainings did not overlap in time: {runs[1:]}"
