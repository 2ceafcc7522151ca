"""Training recipes: ``supervised`` (Lp + GDL), ``gan`` (generator + discriminator), ``none`` (baselines).

A model names its recipe when it registers (``@register_model(name, recipe=...)``); see
:mod:`vfp.recipes.base` for the contract and :mod:`vfp.models` for the model contract.
"""
from vfp.recipes.base import (
    RECIPES,
    Built,
    Context,
    LrSchedule,
    Recipe,
    Section,
    as_kwargs,
    get_recipe,
    attach_lr_schedule,
    net_schema,
    optimizer,
    register_recipe,
    section_for,
)
from vfp.recipes.gan import GanLoss, GanRecipe, GanSchedule, GanSection
from vfp.recipes.none import NoneRecipe
from vfp.recipes.supervised import SupervisedLoss, SupervisedRecipe, SupervisedSection

__all__ = [
    "RECIPES", "Built", "Context", "GanLoss", "GanRecipe", "GanSchedule", "GanSection", "LrSchedule", "NoneRecipe", "Recipe",
    "Section", "SupervisedLoss", "SupervisedRecipe", "SupervisedSection", "as_kwargs", "get_recipe", "attach_lr_schedule", "net_schema",
    "optimizer", "register_recipe", "section_for",
]
