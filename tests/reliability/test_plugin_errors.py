"""A plugin module that cannot be imported is one line naming its file and line (issue: tracebacks where one
line is promised: a plugin that raises on import, has a SyntaxError, or registers an existing name)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vfp.errors import VfpError
from vfp.models.params import load_model_config

REPO = Path(__file__).resolve().parents[2]

PLUGINS = {
    "raises": ("import math\n\nraise RuntimeError('no GPU here')\n", "raises.py:3: RuntimeError: no GPU here"),
    "syntax": ("def f(:\n    pass\n", "syntax.py:1: SyntaxError"),
    "twice": ("from torch import nn\nfrom vfp.models.registry import register_model\n\n\n"
              "@register_model('seq2seq')\nclass Mine(nn.Module):\n    def __init__(self, n_input: int = 1):\n"
              "        super().__init__()\n",
              "twice.py:5: ValueError: model name 'seq2seq' is already registered by vfp.models.seq2seq"),
    "missing_dep": ("import not_installed_anywhere\n",
                    "missing_dep.py:1: ModuleNotFoundError: No module named 'not_installed_anywhere'"),
}


def _project(tmp_path: Path, tiny_params, case: str) -> Path:
    module = f"plugin_{case}_{tmp_path.name[-6:]}".replace("-", "_")  # a fresh module name per test
    source, _ = PLUGINS[case]
    (tmp_path / f"{module}.py").write_text(source.replace("raises.py", f"{module}.py"))
    tiny_params(tmp_path, plugins=[module])
    return tmp_path / f"{module}.py"


@pytest.mark.parametrize("case", sorted(PLUGINS))
def test_broken_plugin_is_one_line_naming_its_file_and_line(tmp_path, tiny_params, monkeypatch, case):
    plugin = _project(tmp_path, tiny_params, case)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VfpError) as err:
        load_model_config(tmp_path / "params.yaml")
    message = str(err.value)
    expected = PLUGINS[case][1].replace(f"{case}.py", plugin.name)
    assert "\n" not in message and f"plugins: '{plugin.stem}' failed to import" in message
    assert f"{plugin}:{expected.split(':', 1)[1]}" in message, message


def test_broken_plugin_in_a_stage_exits_with_one_line(tmp_path, tiny_params):
    plugin = _project(tmp_path, tiny_params, "twice")
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "model_params.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(plugin) in lines[0], proc.stderr
