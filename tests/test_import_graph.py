"""vfp's layers import only downward: its import graph, read from the source, has no cycle.

Edges are vfp's imports of its own modules, at module top and inside functions (a deferred import is
still a dependency), except those under ``if TYPE_CHECKING:``. ``from a.b import c`` is an edge to
``a.b.c`` when that is a module, else to ``a.b``.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of ``package`` (a folder with ``__init__.py``)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _function_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, mods: dict[str, Path]) -> set[str]:
    """The package's modules an import statement of module ``name`` loads."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in mods}
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        here = name.split(".") if is_package else name.split(".")[:-1]
        base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
    subs = {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names}
    return {t for t in subs if t in mods}


def import_graph(package: Path) -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """``(edges {module: modules it imports}, deferred [(file, line, module)])`` of ``package``."""
    mods = modules(package)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    deferred = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip, inside = _type_checking_lines(tree), _function_lines(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            for target in sorted(_targets(node, name, path.name == "__init__.py", mods) - {name}):
                graph[name].add(target)
                if node.lineno in inside:
                    deferred.append((str(path.relative_to(package.parent)), node.lineno, target))
    return graph, deferred


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "pkg"


def test_vfp_has_no_import_cycle():
    graph, _ = import_graph(REPO / "vfp")
    assert len(graph) > 40 and "vfp.models.registry" in graph["vfp.models.autoencoder"]
    assert not cycles(graph), f"import cycles in vfp: {cycles(graph)}"


def test_the_graph_sees_cycles_through_deferred_imports_but_not_type_checking(tmp_path):
    pkg = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import f\n",
        "pkg/b.py": "def f():\n    from pkg import a\n",
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n",
        "pkg/sub/__init__.py": "from . import d\n",
        "pkg/sub/d.py": "from ..c import TYPE_CHECKING\n",
    })
    graph, deferred = import_graph(pkg)
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert deferred == [("pkg/b.py", 2, "pkg.a")]
    assert graph["pkg.c"] == set() and graph["pkg.sub"] == {"pkg.sub.d"} and graph["pkg.sub.d"] == {"pkg.c"}


CORE = ("vfp.errors", "vfp.schema", "vfp.config", "vfp.fileio", "vfp.frames", "vfp.flow", "vfp.losses", "vfp.metrics",
        "vfp.baselines", "vfp.modelio", "vfp.extend", "vfp.models", "vfp.recipes", "vfp.engines", "vfp.handlers")


def test_the_core_layers_import_at_module_top():
    # deferred imports hide a layer's real dependencies (and its cycles) from a reader and from isort
    _, deferred = import_graph(REPO / "vfp")
    core = [d for d in deferred if any(d[0].removesuffix(".py").replace("/", ".").startswith(p) for p in CORE)]
    assert not core, f"imports inside functions: {core}"
