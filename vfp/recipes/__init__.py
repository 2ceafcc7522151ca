"""Training recipes: ``supervised`` (Lp + GDL), ``gan`` (generator + discriminator), ``none`` (baselines).

A model names its recipe when it registers (``@register_model(name, recipe=...)``); see
:mod:`vfp.recipes.base` for the contract, :mod:`vfp.models.sections` for the params schema of each
recipe and :mod:`vfp.models` for the model contract.
"""
from vfp.models.sections import (
    GanLoss,
    GanSchedule,
    GanSection,
    LrSchedule,
    Section,
    SupervisedLoss,
    SupervisedSection,
    net_schema,
    section_for,
)
from vfp.recipes.base import (
    RECIPES,
    Built,
    Context,
    Recipe,
    attach_lr_schedule,
    get_recipe,
    optimizer,
    register_recipe,
)
from vfp.recipes.gan import GanRecipe
from vfp.recipes.none import NoneRecipe
from vfp.recipes.supervised import SupervisedRecipe
from vfp.schema import as_kwargs

__all__ = [
    "RECIPES", "Built", "Context", "GanLoss", "GanRecipe", "GanSchedule", "GanSection", "LrSchedule", "NoneRecipe",
    "Recipe", "Section", "SupervisedLoss", "SupervisedRecipe", "SupervisedSection", "as_kwargs", "attach_lr_schedule",
    "get_recipe", "net_schema", "optimizer", "register_recipe", "section_for",
]
