"""dvc.yaml deps are complete: every vfp module a stage script can load is covered by that stage's deps.

Two views of "the modules a stage loads": the ``vfp`` entries of ``sys.modules`` after importing the
stage script in a fresh interpreter (what runs at import), and the closure of its import statements,
including the ones inside functions (what runs when the stage works: vfp imports torch-heavy code
lazily). Both must be covered by the stage's ``deps`` (a file, or a folder holding it), for every stage:
the data stages validate params.yaml without loading a model, and evaluation loads no training code.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
DATA_STAGES = ("download", "motion_filter", "split")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return {m for m in out if m == "vfp" or m.startswith("vfp.")}


def _file(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def closure(*starts: Path) -> set[str]:
    """Repo-relative files of every vfp module reachable by import statements from ``starts``."""
    seen: set[Path] = set()
    todo = list(starts)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found = _file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    todo.append(found)
    return {str(p.relative_to(REPO)) for p in seen if p.is_relative_to(REPO / "vfp")}


def _trivial(rel: str) -> bool:
    """An empty package marker (nothing but a docstring) changes no result."""
    body = ast.parse((REPO / rel).read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _covered(rel: str, deps: list[str]) -> bool:
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps if isinstance(d, str))


def _loaded_at_import(script: str) -> set[str]:
    code = ("import json, runpy, sys; runpy.run_path(sys.argv[1], run_name='not_main'); "
            "print(json.dumps(sorted(getattr(m, '__file__', None) or '' for n, m in sys.modules.items() "
            "if n == 'vfp' or n.startswith('vfp.'))))")
    out = subprocess.run([sys.executable, "-c", code, script], cwd=REPO, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    return {str(Path(f).resolve().relative_to(REPO)) for f in json.loads(out.splitlines()[-1]) if f}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_every_vfp_module_it_loads(stage):
    spec = STAGES[stage]
    script = spec["cmd"].split()[1]
    deps = [d if isinstance(d, str) else next(iter(d)) for d in spec["deps"]]
    assert script in deps, f"{stage}: its script {script} is not a dep"
    if spec.get("always_changed"):
        return  # runs every time: its deps do not decide anything
    loaded = closure(REPO / script) | _loaded_at_import(script)
    missing = sorted(rel for rel in loaded if not _covered(rel, deps) and not _trivial(rel))
    assert not missing, f"dvc.yaml stage {stage} loads {missing} but does not list them in deps"


def test_closure_sees_imports_inside_functions():
    # the closure follows imports through every module: train reaches the GAN engine through the recipes
    files = closure(REPO / "stages/train.py")
    assert {"vfp/training.py", "vfp/engines/gan.py", "vfp/recipes/gan.py", "vfp/data/clips.py"} <= files


def _outs(spec: dict) -> list[str]:
    outs = [*spec.get("outs", []), *spec.get("metrics", [])]
    return [o if isinstance(o, str) else next(iter(o)) for o in outs]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_cmd_passes_the_paths_the_stage_writes(stage):
    # dvc.yaml is the one place naming the outputs (DVC's example-get-started style); an output that is a
    # params value (download's ${data.root}) reaches the stage through params.yaml instead
    spec = STAGES[stage]
    missing = [o for o in _outs(spec) if not (o.startswith("${") and o.endswith("}")) and o not in spec["cmd"].split()]
    assert not missing, f"dvc.yaml stage {stage} writes {missing} but its cmd does not pass them"


@pytest.mark.parametrize("stage", DATA_STAGES)
def test_data_stages_load_no_model(stage):
    loaded = closure(REPO / STAGES[stage]["cmd"].split()[1])
    assert not [f for f in loaded if f.startswith(("vfp/models", "vfp/recipes", "vfp/engines"))], sorted(loaded)


def test_evaluation_loads_no_training_code():
    # editing the GAN step, a loss or a recipe must not invalidate every evaluation
    deps = [d if isinstance(d, str) else next(iter(d)) for d in STAGES["evaluate"]["deps"]]
    training = ("vfp/recipes", "vfp/engines/gan.py", "vfp/engines/supervised.py", "vfp/losses.py", "vfp/handlers",
                "vfp/training.py")
    assert not [d for d in deps if d.startswith(training)], deps
    assert not [f for f in closure(REPO / "stages/evaluate.py") if f.startswith(training)]
