"""``gan``: generator + discriminator, two optimizers (and AMP scalers), phases by epoch.

The generator is a :class:`vfp.models.contract.GanGenerator` (``predict_scales``, ``scales``, ``scale_sizes``,
``make_discriminator``); see :mod:`vfp.engines.gan` for the step (D then G) and the warm-up schedule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ignite.distributed as idist
from torch import nn

from vfp.engines.common import maybe_compile
from vfp.engines.gan import ScalesForward, create_gan_trainer, gan_phase
from vfp.errors import VfpError
from vfp.models.sections import GanSection
from vfp.recipes.base import Built, Context, Recipe, attach_lr_schedule, optimizer, register_recipe


class GanRecipe(Recipe):
    name = "gan"
    section = GanSection

    def build(self, ctx: Context) -> Built:
        tc, sec, plain = ctx.train, ctx.section, ctx.model
        g_model = idist.auto_model(maybe_compile(ScalesForward(plain), tc.compile, ctx.device))
        opt_g = idist.auto_optim(optimizer(plain.parameters(), sec))
        to_save: dict[str, Any] = {"model": plain, "optimizer": opt_g}
        disc = opt_d = None
        if sec.loss.lam_adv != 0:
            disc_plain = _discriminator(ctx)
            disc = idist.auto_model(disc_plain)
            d_settings = _DOpt(lr=sec.lr_d, weight_decay=sec.weight_decay)
            opt_d = idist.auto_optim(optimizer(disc_plain.parameters(), d_settings))
            to_save.update(discriminator=disc_plain, optimizer_d=opt_d)
        trainer, scalers = create_gan_trainer(g_model, disc, opt_g, opt_d, sec.loss, sec.schedule,
                                              n_output=sec.n_output, grad_clip=tc.grad_clip, device=ctx.device,
                                              amp=tc.amp, crop=ctx.window, channels_last=tc.channels_last,
                                              margin=ctx.margin)
        for opt, lr in ((opt_g, sec.lr), (opt_d, sec.lr_d)):
            if opt is not None:
                attach_lr_schedule(trainer, opt, lr, sec.lr_schedule, ctx.iterations)
        to_save.update(scalers)
        if disc is None:
            return Built(trainer, to_save, eval_model=plain)
        # the exported GAN trained with its adversary: only ``joint`` epochs are candidates (handlers.selection)
        return Built(trainer, to_save, eval_model=plain, phase_of=lambda epoch: gan_phase(epoch, sec.schedule),
                     exportable=lambda phase: phase == "joint")


def _discriminator(ctx: Context) -> nn.Module:
    """The section's discriminator (:meth:`GanSection.make_discriminator`), or a one-line VfpError."""
    try:
        return ctx.section.make_discriminator(ctx.model, ctx.frame_size, ctx.train.crop)
    except (TypeError, ValueError, RuntimeError) as err:
        size = ctx.train.crop or ctx.frame_size[0]
        raise VfpError(f"{ctx.name}.discriminator: does not fit {size}x{size} frames "
                       f"({str(err).splitlines()[0][:120]})") from None


@dataclass(frozen=True)
class _DOpt:
    """The discriminator's optimizer settings (:func:`optimizer` reads ``lr`` and ``weight_decay``)."""

    lr: float
    weight_decay: float


register_recipe(GanRecipe())
