"""LR schedule (cosine with warm-up) and seq2seq scheduled sampling follow their schedules, per iteration."""
from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Events

from vfp.models.params import parse_model_config
from vfp.models.registry import build_model
from vfp.recipes import Context, as_kwargs, get_recipe

SIZE = 8


def _built(section: dict, iterations: int):
    cfg = parse_model_config({"model": "seq2seq", "data": {"size": [SIZE, SIZE]},
                        "seq2seq": {"n_output": 3, "net": {"n_input": 2, "embed": 4, "hidden": [4], "stride": 2},
                                    **section}}, "params")
    sec = cfg.model_section()
    model = build_model("seq2seq", **as_kwargs(sec.net))
    ctx = Context("seq2seq", model, sec, cfg.train, torch.device("cpu"), (SIZE, SIZE), iterations)
    return get_recipe("supervised").build(ctx), model


def _run(built, model, iterations: int):
    seen = {"lr": [], "ratio": [], "output": []}

    @built.trainer.on(Events.ITERATION_STARTED)
    def _record(engine):  # attached after the recipe's handlers: sees this iteration's values
        seen["lr"].append(built.to_save["optimizer"].param_groups[0]["lr"])
        seen["ratio"].append(model.sampling_ratio)

    @built.trainer.on(Events.ITERATION_COMPLETED)
    def _out(engine):
        seen["output"].append(engine.state.output.get("sampling_ratio"))

    data = [{"frames": torch.rand(2, 5, 3, SIZE, SIZE) * 2 - 1} for _ in range(iterations)]
    built.trainer.run(data, max_epochs=1)
    return seen


def test_scheduled_sampling_ratio_decays_linearly_then_stays():
    n = 20
    built, model = _built({"sampling": {"start": 0.0, "end": 1.0, "decay": 0.5}}, n)
    seen = _run(built, model, n)
    expected = [min(1.0, i / 10) for i in range(n)]  # linear over the first 10 iterations, then 1
    assert seen["ratio"] == pytest.approx(expected)
    assert seen["output"] == pytest.approx(expected)  # reported in the step output (dvclive curve)



def test_sampling_ratio_one_trains_on_own_predictions_zero_on_true_frames():
    torch.manual_seed(0)
    built, model = _built({}, 4)
    context, future = torch.rand(2, 2, 3, SIZE, SIZE), torch.rand(2, 3, 3, SIZE, SIZE)
    with torch.no_grad():
        model.head[-1].weight.normal_()  # not copy-last any more: own predictions differ from the truth
        model.train()
        model.sampling_ratio = 0.0
        teacher = model(context, 3, future=future)
        model.sampling_ratio = 1.0
        own = model(context, 3, future=future)
        model.eval()
        free = model(context, 3)
    assert torch.allclose(own, free) and not torch.allclose(teacher, free)


def test_lr_follows_cosine_with_warmup():
    n = 40
    built, model = _built({"lr": 0.01, "lr_schedule": {"kind": "cosine", "warmup": 0.1, "final": 0.1}}, n)
    lr = _run(built, model, n)["lr"]
    assert lr[0] == pytest.approx(0.0001)  # warm-up from 1% of lr
    assert max(lr) == pytest.approx(0.01) and lr.index(max(lr)) in (3, 4)  # peak after 4 warm-up iterations
    assert all(a >= b - 1e-12 for a, b in zip(lr[4:], lr[5:]))  # then decays monotonically
    assert lr[-1] == pytest.approx(0.001, rel=0.05)  # to final x lr at the end of the run
    mid = 4 + (n - 4) // 2
    assert lr[mid] == pytest.approx(0.001 + 0.009 * (1 + math.cos(math.pi * (mid - 4) / (n - 4))) / 2, rel=0.05)


def test_constant_lr_stays():
    built, model = _built({"lr": 0.01, "lr_schedule": {"kind": "constant"}}, 5)
    assert set(_run(built, model, 5)["lr"]) == {0.01}


def _resumed(built, model, at: int, total: int):
    """Run ``built`` as a trainer restored from a checkpoint taken after iteration ``at`` of ``total``."""
    built.trainer.load_state_dict({"iteration": at, "epoch_length": total, "max_epochs": 1})
    return _run(built, model, total)


def test_schedules_continue_from_the_restored_iteration():
    section = {"lr": 0.01, "lr_schedule": {"kind": "cosine", "warmup": 0.1, "final": 0.1},
               "sampling": {"start": 0.0, "end": 1.0, "decay": 0.5}}
    full = _run(*_built(section, 40), 40)
    resumed = _resumed(*_built(section, 40), at=13, total=40)
    assert resumed["lr"] == pytest.approx(full["lr"][13:]) and len(resumed["lr"]) == 27
    assert resumed["ratio"] == pytest.approx(full["ratio"][13:])


def test_a_longer_run_resumed_follows_the_new_schedule():
    # a run restored at iteration 13 and now set to 40 iterations in all (e.g. train.epochs raised) gets
    # the 40-iteration schedule from iteration 14 on: the schedule's length is read from the params, not restored
    section = {"lr": 0.01, "lr_schedule": {"kind": "cosine", "warmup": 0.1, "final": 0.1}}
    longer = _run(*_built(section, 40), 40)
    resumed = _resumed(*_built(section, 40), at=13, total=40)
    assert resumed["lr"] == pytest.approx(longer["lr"][13:])
    assert resumed["lr"][0] > _run(*_built(section, 20), 20)["lr"][13]  # later in the shorter run: lower
