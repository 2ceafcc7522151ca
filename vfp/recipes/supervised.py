"""``supervised``: one model, one optimizer, loss = Lp + ``lam_gdl`` * GDL (teacher forcing over ``n_output``)."""
from __future__ import annotations

import ignite.distributed as idist
from ignite.engine import Events

from vfp.engines.common import maybe_compile
from vfp.engines.supervised import create_supervised_trainer
from vfp.models.sections import SupervisedSection
from vfp.recipes.base import Built, Context, Recipe, attach_lr_schedule, optimizer, register_recipe
from vfp.recipes.schedules import linear_ramp


class SupervisedRecipe(Recipe):
    name = "supervised"
    section = SupervisedSection

    def build(self, ctx: Context) -> Built:
        tc, sec = ctx.train, ctx.section
        run_model = idist.auto_model(maybe_compile(ctx.model, tc.compile, ctx.device))
        opt = idist.auto_optim(optimizer(ctx.model.parameters(), sec))
        trainer, scalers = create_supervised_trainer(run_model, opt, n_output=sec.n_output, grad_clip=tc.grad_clip,
                                                     device=ctx.device, amp=tc.amp, crop=ctx.window,
                                                     channels_last=tc.channels_last, p=sec.loss.p,
                                                     lam_gdl=sec.loss.lam_gdl, alpha=sec.loss.alpha,
                                                     margin=ctx.margin)
        to_save = {"model": ctx.model, "optimizer": opt, **scalers}
        attach_lr_schedule(trainer, opt, sec.lr, sec.lr_schedule, ctx.iterations)
        if getattr(sec, "sampling", None) is not None:  # a section with a scheduled-sampling schedule
            attach_sampling_schedule(trainer, ctx.model, sec.sampling, ctx.iterations)
        return Built(trainer, to_save, eval_model=run_model)


def attach_sampling_schedule(trainer, model, schedule, iterations: int) -> None:
    """Drive ``model.sampling_ratio`` by ``schedule`` (start -> end, linear over ``decay`` x ``iterations``,
    a function of the trainer's iteration: vfp.recipes.schedules), set at every iteration start and
    reported in the step output (``sampling_ratio``: a dvclive curve)."""
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
