"""The recipe contract: how a registered model trains.

A recipe owns the params section schema shared by its models (``section``) and builds, from a
plain model and its validated section, everything training needs (:class:`Built`): the Ignite
trainer, the objects to checkpoint (models, optimizers, AMP scalers) and the model validation
runs. Generic code (vfp.training) asks the recipe; it never asks which model it holds.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch
from torch import nn

from vfp.config import Params, bounded

RECIPES: dict[str, "Recipe"] = {}


@dataclass(frozen=True)
class LrSchedule(Params):
    """Learning rate over the whole run (``train.epochs`` x iterations per epoch), per iteration:
    ``constant``; or ``cosine``: a linear warm-up over the first ``warmup`` fraction of the iterations
    (from 1% of ``lr``), then a cosine decay to ``final`` x ``lr`` (a function of the trainer's iteration: vfp.recipes.schedules)."""

    kind: Literal["constant", "cosine"] = "cosine"
    warmup: float = bounded(0.05, ge=0, lt=1)
    final: float = bounded(0.05, ge=0, le=1)


@dataclass(frozen=True)
class Section(Params):
    """Fields every model section has: ``lr``, ``n_output``, ``weight_decay`` (AdamW when > 0),
    ``lr_schedule`` and ``net`` (the constructor keywords)."""

    lr: float = bounded(0.001, ge=0)
    n_output: int = bounded(1, ge=1)
    weight_decay: float = bounded(0.0, ge=0)
    lr_schedule: LrSchedule = field(default_factory=LrSchedule)
    net: Any = field(default_factory=dict)


@dataclass
class Context:
    """What a recipe gets to build from: the plain model, its section, train settings, device."""

    name: str
    model: nn.Module
    section: Any
    train: Any  # vfp.config.TrainConfig
    device: torch.device
    frame_size: tuple[int, int]
    iterations: int = 0  # of the whole run (train.epochs x iterations per epoch): what LR schedules span


@dataclass
class Built:
    """A recipe's product. ``to_save``: objects to checkpoint besides trainer and RNG (keys: model,
    optimizer, scaler, and e.g. discriminator, optimizer_d, scaler_d); ``eval_model``: what validation runs."""

    trainer: Any  # ignite Engine
    to_save: dict[str, Any]
    eval_model: nn.Module
    phase_of: Callable[[int], str] = lambda epoch: "train"  # an epoch's training phase (1-based epochs)
    exportable: Callable[[str], bool] = lambda phase: True  # may an epoch of that phase be exported?


class Recipe:
    """Base class: ``section`` is the schema base of its models; ``trains`` False = nothing to fit."""

    name = ""
    section: type = Section
    trains = True

    def check(self, name: str, section: Any, model: nn.Module, cfg: Any) -> str | None:
        """Config-time check of the selected model; return a one-line problem (naming the key) or None."""
        return None

    def build(self, ctx: Context) -> Built:
        raise NotImplementedError


def register_recipe(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; registered: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def optimizer(params, section: Any) -> torch.optim.Optimizer:
    """Adam with the section's ``lr`` and ``weight_decay`` (AdamW when weight_decay > 0)."""
    if section.weight_decay > 0:
        return torch.optim.AdamW(params, lr=section.lr, weight_decay=section.weight_decay)
    return torch.optim.Adam(params, lr=section.lr)


def attach_lr_schedule(trainer: Any, opt: torch.optim.Optimizer, lr: float, schedule: LrSchedule, iterations: int) -> None:
    """Attach ``schedule`` for ``opt`` (peak ``lr``) to ``trainer``: the LR is set at every iteration start
    from the trainer's iteration (vfp.recipes.schedules; nothing to checkpoint). ``constant``: nothing."""
    from vfp.recipes.schedules import attach_lr, cosine_with_warmup

    if schedule.kind == "constant" or iterations < 2 or lr == 0:
        return
    attach_lr(trainer, opt, lambda it: cosine_with_warmup(it, iterations, lr, schedule.warmup, schedule.final))


def net_schema(cls: type, exclude: tuple[str, ...] = ()) -> type:
    """A frozen ``net`` dataclass derived from ``cls.__init__``'s keyword arguments and their defaults
    (the defaults stay in one place: the constructor); ``exclude``: arguments the recipe fills in."""
    hints = typing.get_type_hints(cls.__init__)
    fields = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in ("self", *exclude) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"{cls.__name__}.__init__: argument {p.name} needs a default (or pass params=)")
        tp = hints.get(p.name, type(p.default))
        fields.append((p.name, tp, dataclasses.field(default=p.default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Net", fields, bases=(Params,), frozen=True)


def section_for(recipe: Recipe, cls: type, params: type | None) -> type:
    """The section schema of a model: ``params`` itself when it is a section (has ``net``), else the
    recipe's section with ``net`` typed as ``params`` (or as :func:`net_schema` of the class)."""
    if params is not None and not dataclasses.is_dataclass(params):
        raise TypeError(f"params of {cls.__name__} must be a dataclass, got {params!r}")
    if params is not None and "net" in {f.name for f in dataclasses.fields(params)}:
        if not issubclass(params, recipe.section):
            raise TypeError(f"{params.__name__} must subclass the {recipe.name} recipe's {recipe.section.__name__}")
        return params
    net = params or net_schema(cls)
    return dataclasses.make_dataclass(f"{cls.__name__}Section", [("net", net, dataclasses.field(default_factory=net))],
                                      bases=(recipe.section,), frozen=True)


def as_kwargs(net: Any) -> dict[str, Any]:
    """A ``net`` value (dataclass or mapping) -> plain constructor keyword arguments (lists, not tuples)."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v

    items = net.items() if isinstance(net, Mapping) else ((f.name, getattr(net, f.name)) for f in dataclasses.fields(net))
    return {k: plain(v) for k, v in items}
