"""Model registry: ``@register_model(name, recipe=..., params=...)`` and discovery.

Built-in models register themselves when :mod:`vfp.models` is imported. User models register
from modules named in ``plugins:`` (params.yaml; imported from ``PYTHONPATH`` or the current
folder) or from installed packages through the entry-point group ``vfp.models``.
"""
from __future__ import annotations

import hashlib
import importlib
import sys
import traceback
import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterable

from torch import nn

from vfp.errors import VfpError
from vfp.models.sections import section_for

ENTRY_POINT_GROUP = "vfp.models"


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model: class, recipe name, params section schema, module."""

    name: str
    cls: type[nn.Module]
    recipe: str
    section: type  # frozen dataclass of the params section ``<name>: {lr, n_output, net: {...}, ...}``
    module: str


REGISTRY: dict[str, ModelSpec] = {}
_entry_points_loaded = False


def register_model(name: str, *, recipe: str = "supervised", params: type | None = None) -> Callable[[type], type]:
    """Class decorator: register an ``nn.Module`` under ``name`` (the value of ``model:`` in params.yaml).

    ``recipe``: how it trains (``supervised`` | ``gan`` | ``none`` or any registered recipe); its params
    section schema comes from :data:`vfp.models.sections.SECTIONS`.
    ``params``: a frozen dataclass: either the whole section (a subclass of the recipe's section
    class, with a ``net`` field) or only the ``net`` part (its fields are the constructor keywords);
    by default a ``net`` schema is derived from the constructor's annotated keyword arguments.
    """
    def decorate(cls: type) -> type:
        section = section_for(recipe, cls, params)
        old = REGISTRY.get(name)
        if old is not None and (old.cls.__module__, old.cls.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"model name {name!r} is already registered by {old.module}.{old.cls.__name__}")
        REGISTRY[name] = ModelSpec(name, cls, recipe, section, cls.__module__)
        return cls

    return decorate


def load_plugins(modules: Iterable[str], root: Path | None = None) -> None:
    """Import each plugin module (from ``PYTHONPATH`` or ``root``, default the current folder)."""
    folder = str(Path(root or Path.cwd()).resolve())
    if folder not in sys.path:
        sys.path.append(folder)
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and (module == err.name or module.startswith(err.name + ".")):  # the plugin is not found
                raise VfpError(f"plugins: cannot import {module!r} ({err}); put it on PYTHONPATH or in "
                               f"{folder}") from None
            raise VfpError(f"plugins: {module!r} failed to import: {_where(err)}") from None
        except Exception as err:  # noqa: BLE001 - SyntaxError, a name registered twice, any error at import
            raise VfpError(f"plugins: {module!r} failed to import: {_where(err)}") from None


def _where(err: BaseException) -> str:
    """``<file>:<line>: <Error>: <message>`` of an error raised while importing a plugin (one line)."""
    if isinstance(err, SyntaxError):
        return f"{err.filename}:{err.lineno}: SyntaxError: {err.msg}; fix the plugin file"
    frames = traceback.extract_tb(err.__traceback__)
    vfp_dir = str(Path(__file__).resolve().parents[1])
    outside = [f for f in frames if not f.filename.startswith(("<", vfp_dir))]  # the plugin's own lines
    place = f"{outside[-1].filename}:{outside[-1].lineno}: " if outside else ""
    text = " ".join(str(err).split())[:200]
    return f"{place}{type(err).__name__}: {text}; fix the plugin (or drop it from plugins:)"


def load_entry_points() -> None:
    """Import the modules that installed packages declare in the ``vfp.models`` entry-point group."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as err:  # noqa: BLE001 - a broken third-party package must not hide the others
            print(f"warning: entry point {ep.name} ({ep.value}) of group {ENTRY_POINT_GROUP} failed: {err}",
                  file=sys.stderr)


def registered() -> list[str]:
    """Names of every registered model, sorted."""
    load_entry_points()
    return sorted(REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registration of ``name``; ValueError listing the registered names otherwise."""
    if name not in REGISTRY:
        load_entry_points()
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(registered())} "
                         f"(add yours with @register_model and plugins: in params.yaml)")
    return REGISTRY[name]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate the model registered as ``name`` with constructor kwargs."""
    return get_spec(name).cls(**kwargs)


def model_sources(name: str) -> dict[str, str]:
    """``{file: sha256}`` of the module that registered ``name`` when it lies outside vfp/ (a plugin or
    an installed package): DVC cannot list those files as deps, so the model_params stage records them."""
    module = sys.modules.get(get_spec(name).module)
    path = Path(getattr(module, "__file__", "") or "")
    vfp_dir = Path(__file__).resolve().parents[1]
    if not path.is_file() or vfp_dir in path.resolve().parents:
        return {}
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = f"{get_spec(name).module}:{path.name}"  # outside the project: by module, not absolute path
    return {shown: hashlib.sha256(path.read_bytes()).hexdigest()}


def source_files(model: nn.Module) -> list[str]:
    """The source files that define ``model``'s computation: the module of every class in it (wrappers,
    the net, its blocks, their base classes; torch's own excluded) and the vfp or plugin modules whose
    functions those modules call (one level, e.g. :mod:`vfp.flow` for a flow-based model)."""
    files: set[str] = set()
    for cls in {c for m in model.modules() for c in type(m).__mro__}:
        if cls.__module__.split(".")[0] in ("torch", "builtins"):
            continue
        module = sys.modules.get(cls.__module__)
        files.add(getattr(module, "__file__", None) or "")
        top = cls.__module__.split(".")[0]
        for obj in vars(module).values() if module else ():
            used = obj if isinstance(obj, types.ModuleType) else sys.modules.get(getattr(obj, "__module__", "") or "")
            if isinstance(obj, (types.ModuleType, types.FunctionType)) and used is not None \
                    and used.__name__.split(".")[0] in ("vfp", top):
                files.add(getattr(used, "__file__", None) or "")
    return sorted(f for f in files if f and Path(f).is_file())


def source_digest(model: nn.Module) -> str:
    """sha256 over :func:`source_files` (names and bytes): part of a training run's identity, so an edit of the
    model's code (a ReLU swapped for a SiLU, the same weight shapes) starts a new run instead of resuming."""
    digest = hashlib.sha256()
    for path in source_files(model):
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()
