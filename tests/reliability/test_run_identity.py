"""The model's code is part of a run's identity, and a new run leaves no previous model file behind
(issue: results of code that never trained; a killed run with new params left the previous model.pt)."""
from __future__ import annotations

import importlib
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from test_damaged_checkpoint import CFG, Squares, _train  # noqa: E402 (tests/reliability on sys.path)
from test_interrupts import CtrlC  # noqa: E402

from vfp.models import registry
from vfp.models.params import parse_model_config
from vfp.training import train

REPO = Path(__file__).resolve().parents[2]


def _readme_plugin() -> str:
    text = (REPO / "README.md").read_text()
    heading = re.search(r"^#+ .*add your (own )?model.*$", text, re.I | re.M)
    return re.search(r"```python\n(.*?)```", text[heading.end():], re.S).group(1)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))  # the plugin's model stays in this test
    name = f"tiny_{tmp_path.name[-8:]}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text(_readme_plugin())
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / f"{name}.py", name
    sys.modules.pop(name, None)


def _cfg(module: str):
    return parse_model_config({"model": "tiny_residual", "plugins": [module], "data": {"size": [16, 16]},
                               "evaluate": {"horizon": 2},
                               "train": {"epochs": 1, "batch_size": 4, "val_horizon": 2, "num_workers": 0, "snapshot_videos": 0}})


def _go(cfg, out, capsys):
    capsys.readouterr()
    summary = train(cfg, out_dir=out, train_data=Squares(), val_data=Squares(3, seed=1), progress=False)
    return summary, capsys.readouterr().out


def test_an_edit_of_the_model_code_starts_a_new_run(plugin, tmp_path, capsys):
    path, module = plugin
    cfg = _cfg(module)
    first, _ = _go(cfg, tmp_path / "run", capsys)
    again, out = _go(cfg, tmp_path / "run", capsys)
    assert "nothing to do" in out  # same code, same params: the finished run is kept
    path.write_text(path.read_text().replace("nn.ReLU()", "nn.SiLU()"))  # the same weight shapes
    importlib.reload(sys.modules[module])
    edited, out = _go(_cfg(module), tmp_path / "run", capsys)
    assert "nothing to do" not in out and "starting fresh" in out and "model's code changed" in out
    assert edited["resumed_from"] is None and edited["epoch"] == 1
    assert list((tmp_path / "run" / "stale").glob("*/model.pt"))


def test_a_new_run_moves_the_previous_model_file_aside_before_training(tmp_path):
    _train(tmp_path, max_epochs=1)
    assert (tmp_path / "model.pt").is_file()
    other = replace(CFG, seed=1)  # new params; the run is stopped before it exports anything
    summary = train(other, out_dir=tmp_path, train_data=CtrlC((1, 0), n=8), val_data=Squares(3, seed=1),
                    progress=False)
    assert summary["interrupted"]
    assert not (tmp_path / "model.pt").exists()  # evaluate / vfp predict cannot pick up the previous run's
    assert len(list((tmp_path / "stale").glob("*/model.pt"))) == 1
