"""``supervised``: one model, one optimizer, loss = Lp + ``lam_gdl`` * GDL (teacher forcing over ``n_output``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from vfp.config import Params, bounded
from vfp.recipes.base import Built, Context, Recipe, Section, attach_lr_schedule, optimizer, register_recipe


@dataclass(frozen=True)
class SupervisedLoss(Params):
    p: int = bounded(2, ge=1)  # 1: L1, 2: L2
    lam_gdl: float = bounded(0.0, ge=0)  # weight of the gradient-difference loss (0: off)
    alpha: float = bounded(1.0, gt=0)  # GDL exponent


@dataclass(frozen=True)
class SupervisedSection(Section):
    """``<model>: {lr, n_output, weight_decay, loss: {p, lam_gdl, alpha}, net: {...}}``."""

    loss: SupervisedLoss = field(default_factory=SupervisedLoss)


class SupervisedRecipe(Recipe):
    name = "supervised"
    section = SupervisedSection

    def build(self, ctx: Context) -> Built:
        import ignite.distributed as idist

        from vfp.engines.common import maybe_compile
        from vfp.engines.supervised import create_supervised_trainer

        tc, sec = ctx.train, ctx.section
        run_model = idist.auto_model(maybe_compile(ctx.model, tc.compile, ctx.device))
        opt = idist.auto_optim(optimizer(ctx.model.parameters(), sec))
        trainer = create_supervised_trainer(run_model, opt, n_output=sec.n_output, grad_clip=tc.grad_clip,
                                            device=ctx.device, amp=tc.amp, crop=tc.crop,
                                            channels_last=tc.channels_last, p=sec.loss.p,
                                            lam_gdl=sec.loss.lam_gdl, alpha=sec.loss.alpha)
        to_save = {"model": ctx.model, "optimizer": opt}
        attach_lr_schedule(trainer, opt, sec.lr, sec.lr_schedule, ctx.iterations)
        if getattr(sec, "sampling", None) is not None:  # a section with a scheduled-sampling schedule
            attach_sampling_schedule(trainer, ctx.model, sec.sampling, ctx.iterations)
        if trainer.scaler is not None:
            to_save["scaler"] = trainer.scaler
        return Built(trainer, to_save, eval_model=run_model)


def attach_sampling_schedule(trainer, model, schedule, iterations: int) -> None:
    """Drive ``model.sampling_ratio`` by ``schedule`` (start -> end, linear over ``decay`` x ``iterations``,
    a function of the trainer's iteration: vfp.recipes.schedules), set at every iteration start and
    reported in the step output (``sampling_ratio``: a dvclive curve)."""
    from ignite.engine import Events

    from vfp.recipes.schedules import linear_ramp

    if not hasattr(model, "sampling_ratio"):
        raise ValueError(f"{type(model).__name__} has no sampling_ratio for the sampling schedule")
    steps = max(1, int(round(schedule.decay * iterations)))

    @trainer.on(Events.ITERATION_STARTED)
    def _apply(engine) -> None:
        model.sampling_ratio = float(linear_ramp(engine.state.iteration, steps, schedule.start, schedule.end))

    @trainer.on(Events.ITERATION_COMPLETED)
    def _report(engine) -> None:
        if isinstance(engine.state.output, dict):
            engine.state.output["sampling_ratio"] = model.sampling_ratio


register_recipe(SupervisedRecipe())
