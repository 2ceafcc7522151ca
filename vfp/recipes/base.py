"""The recipe contract: how a registered model trains.

A recipe names the params section schema shared by its models (``section``, from
:mod:`vfp.models.sections`) and builds, from a
plain model and its validated section, everything training needs (:class:`Built`): the Ignite
trainer, the objects to checkpoint (models, optimizers, AMP scalers) and the model validation
runs. Generic code (vfp.training) asks the recipe; it never asks which model it holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from vfp.models.sections import LrSchedule, Section, register_section
from vfp.recipes.schedules import attach_lr, cosine_with_warmup

RECIPES: dict[str, "Recipe"] = {}


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
    margin: int = 0  # border around each training crop that only the flow base reads (vfp.models.base)

    @property
    def window(self) -> int:
        """Side of the training windows the trainer cuts: ``train.crop`` plus the margin on both sides (0: whole
        frames)."""
        return self.train.crop + 2 * self.margin if self.train.crop else 0


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
    """Base class: ``section`` is the schema base of its models; its ``trains`` False = nothing to fit."""

    name = ""
    section: type = Section

    @property
    def trains(self) -> bool:
        return self.section.trains

    def build(self, ctx: Context) -> Built:
        raise NotImplementedError


def register_recipe(recipe: Recipe) -> Recipe:
    """Make ``recipe`` available by its name (models name it in ``@register_model(..., recipe=)``)."""
    RECIPES[recipe.name] = recipe
    register_section(recipe.name, recipe.section)
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


def attach_lr_schedule(trainer: Any, opt: torch.optim.Optimizer, lr: float, schedule: LrSchedule,
                       iterations: int) -> None:
    """Attach ``schedule`` for ``opt`` (peak ``lr``) to ``trainer``: the LR is set at every iteration start
    from the trainer's iteration (vfp.recipes.schedules; nothing to checkpoint). ``constant``: nothing."""
    if schedule.kind == "constant" or iterations < 2 or lr == 0:
        return
    attach_lr(trainer, opt, lambda it: cosine_with_warmup(it, iterations, lr, schedule.warmup, schedule.final))
