"""``gan``: generator + discriminator, two optimizers (and AMP scalers), phases by epoch.

The generator must provide ``predict_scales(context) -> [frames per scale]``, ``scales``,
``scale_sizes(h, w)`` and ``make_discriminator(size, **section.discriminator)``; see
:mod:`vfp.engines.gan` for the step (D then G) and the warm-up schedule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vfp.config import Params, bounded
from vfp.recipes.base import Built, Context, Recipe, Section, as_kwargs, attach_lr_schedule, optimizer, register_recipe


@dataclass(frozen=True)
class GanLoss(Params):
    lam_lp: float = bounded(1.0, ge=0)
    lam_gdl: float = bounded(1.0, ge=0)
    # 0: no discriminator at all (multi-scale Lp + GDL only). Lp and GDL are per-pixel means here; the usual
    # 0.05 (dyelax's TF reimplementation of Mathieu et al.) weighed Lp and GDL summed over pixels; 0.05 against means made adv larger than Lp (measured:
    # -0.28 dB val gain on real footage at the first adversarial epoch; 0.002: +0.17 dB by epoch 3)
    lam_adv: float = bounded(0.002, ge=0)
    p: int = bounded(2, ge=1)
    alpha: float = bounded(1.0, gt=0)


@dataclass(frozen=True)
class GanSchedule(Params):
    d_steps: int = bounded(1, ge=1)
    d_warmup_epochs: int = bounded(0, ge=0)
    g_warmup_epochs: int = bounded(0, ge=0)


@dataclass(frozen=True)
class GanSection(Section):
    """``<model>: {lr, n_output, net, discriminator: {...}, lr_d, loss: {...}, schedule: {...}}``."""

    discriminator: Any = field(default_factory=dict)  # a model's schema narrows this to its D's keywords
    lr_d: float = bounded(0.0002, ge=0)
    loss: GanLoss = field(default_factory=GanLoss)
    schedule: GanSchedule = field(default_factory=GanSchedule)


class GanRecipe(Recipe):
    name = "gan"
    section = GanSection

    def check(self, name: str, section: Any, model: Any, cfg: Any) -> str | None:
        if section.loss.lam_adv == 0:
            return None
        size = cfg.train.crop or cfg.data.size[0]
        if not cfg.train.crop and cfg.data.size[0] != cfg.data.size[1]:
            return f"{name}: the discriminator needs square frames; set train.crop (got data.size {list(cfg.data.size)})"
        try:
            model.make_discriminator(size, **as_kwargs(section.discriminator))
        except (TypeError, ValueError) as err:
            return f"{name}.discriminator: {err}"
        except RuntimeError:  # layers too big for these frames: only a training run needs D, build() says so
            pass
        return None

    def build(self, ctx: Context) -> Built:
        import ignite.distributed as idist

        from vfp.engines.common import maybe_compile
        from vfp.engines.gan import ScalesForward, create_gan_trainer, gan_phase

        tc, sec, plain = ctx.train, ctx.section, ctx.model
        g_model = idist.auto_model(maybe_compile(ScalesForward(plain), tc.compile, ctx.device))
        opt_g = idist.auto_optim(optimizer(plain.parameters(), sec))
        to_save: dict[str, Any] = {"model": plain, "optimizer": opt_g}
        disc = opt_d = None
        if sec.loss.lam_adv != 0:
            disc_plain = _discriminator(ctx)
            disc = idist.auto_model(disc_plain)
            opt_d = idist.auto_optim(optimizer(disc_plain.parameters(), _d_section(sec)))
            to_save.update(discriminator=disc_plain, optimizer_d=opt_d)
        trainer = create_gan_trainer(g_model, disc, opt_g, opt_d, sec.loss, sec.schedule, n_output=sec.n_output,
                                     grad_clip=tc.grad_clip, device=ctx.device, amp=tc.amp, crop=tc.crop,
                                     channels_last=tc.channels_last)
        for opt, lr in ((opt_g, sec.lr), (opt_d, sec.lr_d)):
            if opt is not None:
                attach_lr_schedule(trainer, opt, lr, sec.lr_schedule, ctx.iterations)
        for key, scaler in (("scaler", trainer.scaler), ("scaler_d", trainer.scaler_d)):
            if scaler is not None:
                to_save[key] = scaler
        if disc is None:
            return Built(trainer, to_save, eval_model=plain)
        # the exported GAN trained with its adversary: only ``joint`` epochs are candidates (handlers.selection)
        return Built(trainer, to_save, eval_model=plain, phase_of=lambda epoch: gan_phase(epoch, sec.schedule),
                     exportable=lambda phase: phase == "joint")


def _discriminator(ctx: Context):
    from vfp.errors import VfpError

    size = ctx.train.crop or ctx.frame_size[0]
    try:
        return ctx.model.make_discriminator(size, **as_kwargs(ctx.section.discriminator))
    except (TypeError, ValueError, RuntimeError) as err:
        raise VfpError(f"{ctx.name}.discriminator: does not fit {size}x{size} frames "
                       f"({str(err).splitlines()[0][:120]})") from None


@dataclass(frozen=True)
class _DOpt:
    lr: float
    weight_decay: float


def _d_section(sec: GanSection) -> _DOpt:
    return _DOpt(lr=sec.lr_d, weight_decay=sec.weight_decay)


register_recipe(GanRecipe())
