"""Experiments run on two "machines" and compared on a third, through a git remote and a DVC remote.

The shared places are a bare git repository (``origin``) and a local-directory DVC remote. The
project (tiny params) is pushed there with its data stages run and their outputs in the DVC remote.
Clones A and B each pull the data, run one experiment (``dvc exp run``) and ``dvc exp push origin`` it,
then are deleted. Clone C pulls the data and both experiments (``dvc exp pull origin``), never runs
a stage, and ``vfp compare`` shows both with their models' predictions (the model files come from
the DVC remote through ``dvc exp pull``). ``VFP_COMPARE_SHOT=<file.png>`` keeps the page's screenshot.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.dvc_project import commit_all, dvc, project_copy, run

pytestmark = pytest.mark.slow
EXPERIMENTS = {"lr-a": "0.001", "lr-b": "0.004"}  # experiment name -> autoencoder.lr, one per machine


def _tiny(params: dict) -> None:
    params["model"] = "autoencoder"
    params["sample"].update(seed=0, moving_classes=2, static_classes=1, groups=6, clips_per_group=1, frames=16)
    params["data"].update(size=[16, 16], interval=2, cache="")
    params["train"].update(epochs=1, batch_size=4, crop=0, clips_per_video=1, clips_per_epoch=16, num_workers=0,
                           snapshot_videos=0, device="cpu")
    params["autoencoder"].update(lr=0.0003, n_output=1, net={"n_input": 1, "features": [4, 8], "residual": True})
    params["evaluate"].update(horizon=2, batch_size=4, gifs=0)
    params["compare"].update(clips=2, scale=3)


def _git_env() -> dict:
    return dict(os.environ, GIT_AUTHOR_NAME="vfp test", GIT_AUTHOR_EMAIL="test@vfp.invalid",
                GIT_COMMITTER_NAME="vfp test", GIT_COMMITTER_EMAIL="test@vfp.invalid")


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict[str, Path]:
    """``origin`` (bare git repo) and ``remote`` (DVC remote) holding the project with its data stages run."""
    root = tmp_path_factory.mktemp("machines")
    origin, remote = root / "origin.git", root / "dvc-remote"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], root)
    base = project_copy(root / "base", _tiny, env=_git_env())
    run(["git", "branch", "-M", "main"], base)
    dvc("remote", "add", "-d", "shared", str(remote), cwd=base)
    dvc("repro", "split", cwd=base)  # the data stages; their outputs go to the DVC remote
    commit_all(base, "data stages and the shared DVC remote", env=_git_env())
    dvc("push", cwd=base)
    run(["git", "remote", "add", "origin", str(origin)], base)
    run(["git", "push", "-q", "origin", "main"], base)
    shutil.rmtree(base)
    return {"root": root, "origin": origin, "remote": remote}


def _clone(shared: dict[str, Path], name: str) -> Path:
    dest = shared["root"] / name
    run(["git", "clone", "-q", str(shared["origin"]), str(dest)], shared["root"])
    for key, value in (("user.name", "vfp test"), ("user.email", "test@vfp.invalid")):
        run(["git", "config", key, value], dest)
    dvc("pull", "--with-deps", "split", cwd=dest)  # the videos and split lists, not the stages' work
    return dest


def _machine(shared: dict[str, Path], name: str, exp: str, lr: str) -> str:
    """One machine: clone, pull the data, run one experiment, push it; the clone is then deleted."""
    clone = _clone(shared, name)
    out = dvc("exp", "run", "-n", exp, "-S", f"autoencoder.lr={lr}", cwd=clone, env=_git_env())
    assert "Running stage 'train'" in out and "Running stage 'download'" not in out  # the data came pulled
    dvc("exp", "push", "origin", cwd=clone, env=_git_env())  # its experiments: refs to origin, outputs to the remote
    shutil.rmtree(clone)
    return out


def test_experiments_across_machines_exp_push_pull_and_compare(shared, need_tool):
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two machines at once
        list(pool.map(lambda item: _machine(shared, f"machine-{item[0]}", *item), EXPERIMENTS.items()))

    viewer = _clone(shared, "viewer")
    listed = dvc("exp", "list", "origin", "--name-only", cwd=viewer)
    assert set(EXPERIMENTS) <= set(listed.split()), listed
    dvc("exp", "pull", "origin", cwd=viewer)  # every experiment on this commit: refs, then outputs from the remote
    assert not (viewer / "models").exists() and not (viewer / "metrics").exists()  # nothing ran here

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = run([sys.executable, "-m", "vfp.cli", "compare"], viewer, env=env)
    page_path = viewer / "reports" / "compare" / "index.html"
    assert f"wrote {Path('reports/compare/index.html')}" in out or page_path.is_file()
    page = page_path.read_text()
    methods = re.findall(r"<th class=method>([^<]+)</th>", page)[3:]  # after context, truth, copy-last
    for exp, lr in EXPERIMENTS.items():
        j = next((j for j, m in enumerate(methods) if m.startswith(exp)), None)
        assert j is not None, f"no column for {exp}: {methods}"
        for clip in range(2):  # the model's predictions for each clip: the model file was read and run
            image = f"clips/{clip:02d}_exp{j}.png"
            assert f'src="{image}"' in page and (page_path.parent / image).is_file()
        assert f"autoencoder.lr={lr}" in page
    assert not (viewer / "models").exists()  # the models were read from DVC, not trained or checked out
    assert all((page_path.parent / s).is_file() for s in re.findall(r'src="([^"]+)"', page))
    shown = json.loads(dvc("exp", "show", "--json", cwd=viewer))
    assert set(EXPERIMENTS) <= set(re.findall(r'"name": "([^"]+)"', json.dumps(shown)))
    _screenshot(page_path, need_tool)


def _screenshot(page: Path, need_tool) -> None:
    """The page in headless chromium (all its images load); ``VFP_COMPARE_SHOT`` keeps the PNG."""
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None) \
        or need_tool("chromium", package="chromium")
    shot = page.parent / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={page.parent / '.chromium'}", "--virtual-time-budget=5000", "--hide-scrollbars",
           f"--screenshot={shot}", "--window-size=1100,1150", page.resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1100, 1150) and len(im.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 20
    if os.environ.get("VFP_COMPARE_SHOT"):
        shutil.copy2(shot, os.environ["VFP_COMPARE_SHOT"])
