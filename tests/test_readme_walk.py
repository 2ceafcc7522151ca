"""The README's path, as a new user walks it: its commands, read from README.md's code blocks, run in order.

On a throwaway copy of the project (own git repo on branch ``main``, a tiny sample and one-epoch trainings):
the quick start's ``dvc repro``, the commit, ``dvc exp run -S model=...``, ``dvc exp show``, ``dvc metrics
diff``, ``dvc plots diff``, ``vfp compare`` and ``vfp predict``. Each command's outcome is checked: files
written, both revisions in the diff, the committed model still in the workspace after the experiment,
nothing untracked left for ``git add -A`` to sweep up. If the README's commands drift (a branch name, a
missing commit, a new step), this test runs the new text and fails where it breaks.
"""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import SAMPLE
from tests.dvc_project import REPO, project_copy, run

README = REPO / "README.md"
BANNED = re.compile(r"acceptance check|the team|this task|helper session|no GPU lent|what was ours|"
                    r"earlier CPU trial", re.I)


def _section(text: str, heading: str) -> str:
    """The text of the ``## heading`` section (up to the next ``## ``)."""
    start = re.search(rf"^## {re.escape(heading)}.*$", text, re.M)
    assert start, f"README.md has no '## {heading}' section"
    end = re.search(r"^## ", text[start.end():], re.M)
    return text[start.end(): start.end() + end.start() if end else len(text)]


def readme_commands(text: str) -> list[list[str]]:
    """The shell commands of the Quick start and Experiments ``bash`` blocks, in order, ``&&`` chains split,
    comments dropped; install and test steps (venv, ``.``/activate, pip, pytest) are left out: this is the venv."""
    commands = []
    for heading in ("Quick start", "Experiments"):
        for block in re.findall(r"```bash\n(.*?)```", _section(text, heading), re.S):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                while words:
                    cut = words.index("&&") if "&&" in words else len(words)
                    cmd, words = words[:cut], words[cut + 1:]
                    if cmd and cmd[0] not in ("python", "python3", ".", "pip"):
                        commands.append(cmd)
    return commands


def _links(page: Path) -> set[Path]:
    """The local files ``page`` links to (markdown links, anchors dropped)."""
    found = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    return {(page.parent / t).resolve() for t in found if not t.startswith(("http://", "https://"))}


def test_readme_is_one_screen_and_its_links_resolve():
    text = README.read_text()
    assert text.count("\n") <= 220, "README.md is for one screen: move reference text into docs/"
    for page in [README, REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        hit = BANNED.search(page.read_text())
        assert not hit, f"{page.name} speaks of how the project was made: {hit.group(0)!r}"
    missing = [str(p) for p in _links(README) if not p.exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    reached, todo = set(), [p for p in _links(README) if p.suffix == ".md"]
    while todo:  # every docs page is reachable from the README
        page = todo.pop()
        if page not in reached and page.exists():
            reached.add(page)
            todo += [p for p in _links(page) if p.suffix == ".md"]
    orphans = {p.name for p in (REPO / "docs").glob("*.md")} - {p.name for p in reached}
    assert not orphans, f"docs pages no README link leads to: {sorted(orphans)}"


def test_readme_commands_are_the_walk():
    """The walk below relies on the README keeping these steps, in this order."""
    names = [" ".join(c[:3]) for c in readme_commands(README.read_text())]
    order = ["dvc repro", "vfp predict", "git add -A", "git commit -m", "dvc exp run", "dvc exp show",
             "dvc metrics diff", "vfp compare", "vfp predict", "dvc checkout"]
    at = -1
    for step in order:  # each step after the one before it
        at = next((i for i, n in enumerate(names) if i > at and n.startswith(step)), None)
        assert at is not None, f"README commands {names} lack {step!r} in the order {order}"


def _tiny(params: dict) -> None:
    params["sample"].update(SAMPLE)
    # One epoch leaves each model at its untrained start (its base): on the same base both experiments would
    # predict the same frames and `dvc metrics diff` would list no test metric. The baseline on copy_last,
    # the experiment (warp) on its default flow base: their test metrics differ whatever the training did.
    params[params["model"]]["base"] = "copy_last"  # the default model
    params["train"].update(epochs=1, clips_per_epoch=64, snapshot_every=1, snapshot_videos=1, num_workers=0)
    params["evaluate"].update(gifs=1)
    params["compare"] = {"clips": 1, "scale": 1}


def _as_argv(cmd: list[str], project: Path) -> list[str]:
    """dvc and vfp through this interpreter (the copy's package first); the README's placeholder video
    (``my_video.mp4``) -> a video of the sample."""
    if cmd[0] in ("dvc", "vfp"):
        cmd = [sys.executable, "-m", {"dvc": "dvc", "vfp": "vfp.cli"}[cmd[0]], *cmd[1:]]
    if cmd[3:4] == ["predict"]:
        video = str(min((project / "data" / "raw").rglob("*.avi")).relative_to(project))
        cmd = [video if re.fullmatch(r"\w*video\w*\.(mp4|avi|mkv)", w) else w for w in cmd]
    return cmd


def _metric_row(diff: str, key: str) -> list[str]:
    row = next((ln.split() for ln in diff.splitlines() if re.search(rf"\s{key}\s", ln)), None)
    assert row, f"no {key} row in dvc metrics diff:\n{diff}"
    return row


def _check(cmd: list[str], out: str, project: Path, seen: dict) -> None:
    """What each README step must leave behind."""
    if cmd == ["dvc", "repro"]:
        model = seen["model"] = yaml.safe_load((project / "params.yaml").read_text())["model"]
        assert (project / f"models/{model}/model.pt").is_file()
        assert (project / f"reports/{model}/index.html").is_file()
    elif cmd[:2] == ["git", "commit"]:
        assert run(["git", "status", "--porcelain"], project) == "", "the commit left files out"
        tracked = run(["git", "ls-files"], project).split()
        assert "dvc.lock" in tracked and "metrics/metrics.json" in tracked
        assert not [f for f in tracked if f.startswith(("data/", "models/", "out/"))]
    elif cmd[:3] == ["dvc", "exp", "run"]:
        exp = cmd[cmd.index("-n") + 1]
        new = next(w.split("=", 1)[1] for w in cmd if w.startswith("model="))
        seen.update(exp=exp, exp_model=new)
        assert (project / f"models/{new}/model.pt").is_file()
    elif cmd[:2] == ["dvc", "checkout"]:  # back at the commit: the baseline's files restored from DVC's cache
        assert (project / f"models/{seen['model']}/model.pt").is_file()
        assert (project / f"reports/{seen['model']}/index.html").is_file()
        assert run(["git", "status", "--porcelain", "--untracked-files=no"], project) == ""
    elif cmd[:3] == ["dvc", "exp", "show"]:
        assert seen["exp"] in out and "psnr_t1" in out
        assert "ssim_t2" not in out or "--only-changed" in cmd, "the README's exp show form must stay readable"
    elif cmd[:3] == ["dvc", "metrics", "diff"]:
        row = _metric_row(out, "psnr_t1")
        numbers = [w for w in row if re.fullmatch(r"-?\d+(\.\d+)?", w)]
        assert len(numbers) >= 2, f"dvc metrics diff must show both revisions: {row}"
    elif cmd[:3] == ["dvc", "plots", "diff"]:
        assert (project / "dvc_plots" / "index.html").is_file()
    elif cmd[:2] == ["vfp", "compare"]:
        page = (project / "reports/compare/index.html").read_text()
        assert seen["exp"] in page and seen["model"] in page
        assert "missing at this revision" not in page, "a committed model must be readable from DVC's cache"
    elif cmd[:2] == ["vfp", "predict"]:
        written = [w for w in cmd[3:] if re.search(r"\.(mp4|gif)$", w) and not w.startswith("-")]
        assert written and (project / written[0]).stat().st_size > 0, f"vfp predict wrote nothing: {out}"
        assert "out/" not in run(["git", "status", "--porcelain", "--untracked-files=all"], project)


@pytest.mark.slow
def test_readme_walk(tmp_path):
    project = project_copy(tmp_path / "project", _tiny)
    run(["git", "branch", "-M", "main"], project)  # a clone of the repository is on main
    commands = readme_commands(README.read_text())
    seen: dict = {}
    for cmd in commands:
        out = run(_as_argv(cmd, project), project, timeout=900)
        _check(cmd, out, project, seen)
    assert {"model", "exp"} <= set(seen)
