"""Generic code knows no model: no built-in model name in training, evaluation, predict, config, engines,
handlers, recipes or the model-file I/O; inference never imports training; functions stay short."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vfp.models.registry import REGISTRY

REPO = Path(__file__).resolve().parents[1]
GENERIC = ["vfp/training.py", "vfp/evaluation.py", "vfp/predict.py", "vfp/config.py", "vfp/modelio.py",
           *sorted(str(p.relative_to(REPO)) for d in ("engines", "handlers", "recipes")
                   for p in (REPO / "vfp" / d).glob("*.py"))]
BUILT_IN = sorted(name for name, spec in REGISTRY.items() if spec.module.startswith("vfp.models."))


def test_the_built_in_models_are_registered():
    assert {"seq2seq", "autoencoder", "multiscale_gan", "copy_last"} <= set(BUILT_IN)


@pytest.mark.parametrize("rel", GENERIC)
def test_generic_module_names_no_model(rel):
    tree = ast.parse((REPO / rel).read_text())
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | \
            {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for model in BUILT_IN:
        word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(model)}(?![A-Za-z0-9_])")  # copy_last_psnr is a key
        assert not [s for s in strings if s == model or (len(s) < 200 and word.search(s))], \
            f"{rel} names model {model!r} in a string"
        assert model not in names, f"{rel} names model {model!r} in code"


@pytest.mark.parametrize("rel", ["vfp/evaluation.py", "vfp/predict.py", "vfp/modelio.py"])
def test_inference_does_not_import_training(rel):
    tree = ast.parse((REPO / rel).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
              {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "vfp.training" not in modules


def test_no_function_in_vfp_is_over_80_lines():
    long = []
    for path in sorted((REPO / "vfp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{path.relative_to(REPO)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
