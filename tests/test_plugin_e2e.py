"""A model of one's own, end to end: the README's "Add your model" file, saved OUTSIDE the project and the
package, is named in ``plugins:``; ``dvc repro`` trains it, evaluates it beside copy-last and it lines up in
``dvc metrics diff``; editing the plugin file retrains it; nothing under vfp/ changes."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from tests.dvc_project import REPO, commit_all, dvc, project_copy

pytestmark = pytest.mark.slow


def _readme_plugin() -> str:
    text = (REPO / "README.md").read_text()
    heading = re.search(r"^#+ .*add your (own )?model.*$", text, re.I | re.M)
    return re.search(r"```python\n(.*?)```", text[heading.end():], re.S).group(1)


def _vfp_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "vfp").rglob("*.py"))}


def _set_params(project: Path, **values) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for key, value in values.items():
        section, _, name = key.rpartition("__")
        (params.setdefault(section, {}) if section else params)[name] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _short_copy_last(params: dict) -> None:
    params["model"] = "copy_last"
    params["train"].update(epochs=1, clips_per_epoch=128)
    params["evaluate"].update(gifs=1)


def test_plugin_model_trains_evaluates_and_diffs(tmp_path):
    project, plugins = tmp_path / "project", tmp_path / "elsewhere"
    (plugins / "my_models").mkdir(parents=True)
    (plugins / "my_models" / "__init__.py").write_text("")
    plugin_file = plugins / "my_models" / "tiny.py"
    plugin_file.write_text(_readme_plugin())
    name = re.search(r'register_model\(\s*"([A-Za-z0-9_]+)"', plugin_file.read_text()).group(1)
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{plugins}"}  # the project's vfp, then the plugin
    project_copy(project, _short_copy_last, env=env)
    dvc("repro", cwd=project, env=env)  # the baseline experiment: copy-last
    commit_all(project, "baseline: copy_last", env=env)
    vfp_before = _vfp_hashes(project)

    _set_params(project, plugins=["my_models.tiny"], model=name)
    out = dvc("repro", cwd=project, env=env)
    assert "Running stage 'train'" in out and "Running stage 'evaluate'" in out
    for stage in ("download", "motion_filter", "split"):
        assert f"Running stage '{stage}'" not in out  # data stages reused
    model_file = project / "models" / name / "model.pt"
    assert model_file.is_file() and (project / "reports" / name / "index.html").is_file()
    resolved = json.loads((project / "params" / f"{name}.json").read_text())
    assert resolved["recipe"] == "supervised" and resolved["section"]["net"]["width"] == 16
    metrics = json.loads((project / "metrics" / "metrics.json").read_text())
    assert metrics["psnr_gain_t1"] == pytest.approx(metrics["psnr_t1"] - metrics["copy_last_psnr_t1"], abs=1e-3)
    assert metrics["psnr_gain_t1"] > -0.5, metrics  # starts as copy-last; one short epoch must not wreck it

    diff = json.loads(dvc("metrics", "diff", "--all", "--json", cwd=project, env=env))["metrics/metrics.json"]
    assert diff["psnr_t1"]["old"] != diff["psnr_t1"]["new"]  # copy-last's run vs the plugin model's
    assert diff["copy_last_psnr_t1"]["old"] == diff["copy_last_psnr_t1"]["new"]

    assert "didn't change" in dvc("repro", cwd=project, env=env)  # nothing to redo ...
    plugin_file.write_text(plugin_file.read_text().replace("bounded(16, ge=1)", "bounded(8, ge=1)"))
    out = dvc("repro", cwd=project, env=env)  # ... until the plugin file changes: it is a dep
    assert "Running stage 'train'" in out
    assert _vfp_hashes(project) == vfp_before  # no file under vfp/ touched
