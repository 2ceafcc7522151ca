"""``none``: non-learned baselines (copy-last and the like): nothing to train, the model file is written as is."""
from __future__ import annotations

from vfp.models.sections import UntrainedSection
from vfp.recipes.base import Built, Context, Recipe, register_recipe


class NoneRecipe(Recipe):
    name = "none"
    section = UntrainedSection

    def build(self, ctx: Context) -> Built:
        raise RuntimeError("the none recipe trains nothing")


register_recipe(NoneRecipe())
