"""Helpers for the end-to-end tests: a throwaway copy of the project as its own git + DVC repo.

``project_copy(root, edit)`` copies what a user's checkout holds into ``root``, lets ``edit`` change the
params dict, then commits everything in a fresh git repo; ``run`` / ``dvc`` run a command there (this
interpreter's bin first on PATH) and return its stdout, failing the test with the output's tail if it fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
COPY = ["dvc.yaml", "params.yaml", "stages", "vfp", ".dvc/config", ".dvcignore", ".gitignore"]


def run(cmd: list[str], cwd: Path, timeout: int = 900, env: dict | None = None) -> str:
    """Run ``cmd`` in ``cwd``; its stdout (the test fails with stdout/stderr tails if it exits non-zero)."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def dvc(*args: str, cwd: Path, env: dict | None = None, timeout: int = 900) -> str:
    """``python -m dvc <args>`` in ``cwd``; its stdout."""
    return run([sys.executable, "-m", "dvc", *args], cwd, timeout=timeout, env=env)


def commit_all(root: Path, message: str, env: dict | None = None) -> None:
    run(["git", "add", "-A"], root, env=env)
    run(["git", "commit", "-qm", message], root, env=env)


def project_copy(root: Path, edit: Callable[[dict], None] | None = None, env: dict | None = None) -> Path:
    """The project's files in ``root`` (params edited in place by ``edit``), committed in a new git repo."""
    for rel in COPY:
        src, dst = REPO / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    if edit is not None:
        params = yaml.safe_load((root / "params.yaml").read_text())
        edit(params)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["init", "-q"], ["config", "user.name", "vfp test"], ["config", "user.email", "test@vfp.invalid"]):
        run(["git", *cmd], root, env=env)
    commit_all(root, "project", env=env)
    return root
