"""Training: config -> datasets, the model's recipe (engine + what to checkpoint), handlers -> the run folder.

The run folder (:class:`vfp.runs.RunLayout`; only rank 0 writes): ``checkpoint_<iteration>.pt`` (the last
``train.n_saved``, :mod:`vfp.handlers.checkpoint`), ``best_model_<epoch>_gain_best_t1=<dB>.pt`` (the
selected epoch's weights: the best validation gain over the stronger of copy-last and flow at t+1 among the
exportable epochs, epoch 0 included when the untrained model predicts one of them exactly,
:mod:`vfp.handlers.selection`), ``config.json`` (the params defining the run: resume guard), ``model.pt``
(:mod:`vfp.selected`), ``snapshots/`` (GIF pairs) and ``logs/`` (dvclive curves, :mod:`vfp.handlers.live`,
and ``summary.json``: the exported epoch and why).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.utils import manual_seed
from torch.utils.data import Dataset

from vfp.baselines import FLOW, predictors
from vfp.config import Config, decode_size, to_dict
from vfp.data.loaders import TrainLoaders, train_loaders, train_val_datasets
from vfp.distributed import attach_clip_log, fit_epoch_length, process_rank
from vfp.engines.common import resolve_device, setup_backends
from vfp.engines.validation import create_evaluator
from vfp.errors import VfpError
from vfp.fileio import check_writable
from vfp.handlers.checkpoint import AtomicSaver, CheckpointHandler, RngState, resume_run, run_params
from vfp.handlers.interrupt import Interrupt
from vfp.handlers.live import LiveLog
from vfp.handlers.progress import NanGuard, Progress
from vfp.handlers.selection import Selection
from vfp.handlers.snapshots import Snapshots
from vfp.launch import launch, under_torchrun
from vfp.models.base import predictor_from_config, set_base_margin
from vfp.models.params import parse_model_config
from vfp.models.registry import get_spec
from vfp.recipes import Built, Context, get_recipe
from vfp.runs import RunLayout, read_json_object
from vfp.selected import export_selected, export_untrained


@dataclass
class _Run:
    """What one process's training holds: its rank, folders, settings, data, recipe product and handlers."""

    cfg: Config
    layout: RunLayout
    epochs: int
    say: Callable[[str], None]
    data: TrainLoaders
    built: Built
    selection: Selection
    interrupt: Interrupt
    ckpt: CheckpointHandler | None = None
    nan: NanGuard | None = None
    resumed_from: str = ""


def _attach_validation(run: _Run, device: torch.device) -> Engine | None:
    """Validation every ``train.val_every`` epochs and at the end (not after a NaN or an interrupt), and of
    the starting point (epoch 0: a candidate for export when it predicts copy-last) before any update."""
    trainer, cfg = run.built.trainer, run.cfg
    if run.data.val is None:
        return None
    evaluator = create_evaluator(run.built.eval_model, n_input=int(run.built.to_save["model"].n_input),
                                 horizon=cfg.train.val_horizon, device=device, amp=cfg.train.amp,
                                 flow=predictors(cfg.flow.method, cfg.flow.preset)[FLOW])
    validated: set[int] = set()

    @trainer.on(Events.EPOCH_COMPLETED(every=cfg.train.val_every) | Events.COMPLETED)
    def _validate(engine: Engine) -> None:
        if run.nan.key or run.interrupt.hit or engine.state.epoch in validated:
            return
        validated.add(engine.state.epoch)
        evaluator.run(run.data.val)

    return evaluator


def _attach_handlers(run: _Run, to_save: dict[str, Any], device: torch.device, progress: bool) -> Engine | None:
    """Epoch data, NaN guard, validation + selection, logs, snapshots, progress, then checkpoints."""
    trainer, tc, model = run.built.trainer, run.cfg.train, run.built.to_save["model"]

    @trainer.on(Events.EPOCH_STARTED)
    def _set_epoch(engine: Engine) -> None:
        done = engine.state.iteration - (engine.state.epoch - 1) * (engine.state.epoch_length or 0)
        run.data.set_epoch(engine.state.epoch, done)  # the sampler skips the batches a resumed epoch ran
        engine.set_data(run.data.train)  # a fresh iterator AFTER set_epoch (also for the first epoch)
        engine._init_iter = done  # set_data makes Ignite count this epoch from 0: count the skipped batches

    attach_clip_log(trainer, run.data.sampler, idist.get_rank(), idist.get_world_size())  # VFP_CLIP_LOG

    run.ckpt = CheckpointHandler(run.layout.run_dir, to_save, n_saved=tc.n_saved, log=run.say,
                                 nan_loss=lambda: run.nan.key)
    run.nan.attach(trainer)
    evaluator = _attach_validation(run, device)
    if evaluator is not None:
        run.selection.attach(trainer, evaluator)
    if idist.get_rank() == 0:
        LiveLog(run.layout.run_dir).attach(trainer, evaluator)
        if tc.snapshot_videos and run.data.val is not None:
            clips = [run.data.val_data[i] for i in range(min(tc.snapshot_videos, len(run.data.val_data)))]
            Snapshots(model, clips, run.layout.snapshots, n_input=int(model.n_input),
                      horizon=tc.val_horizon, every=tc.snapshot_every, device=device).attach(trainer)
        if progress:
            Progress(log=run.say).attach(trainer)
    run.ckpt.attach(trainer)  # after validation: the selection's best file first, then the regular one
    return evaluator


def _finish(run: _Run) -> dict[str, Any]:
    """The run's summary: an error after a NaN, a checkpoint after an interrupt, else the exported model."""
    trainer, ckpt = run.built.trainer, run.ckpt
    summary: dict[str, Any] = {"model": run.cfg.model, "trained": True, "epoch": trainer.state.epoch,
                               "iteration": trainer.state.iteration, "resumed_from": run.resumed_from or None,
                               "run_dir": str(run.layout.run_dir)}
    if run.nan.key:
        raise VfpError(run.nan.message)
    if run.interrupt.hit:
        path = ckpt.save_now(trainer)
        run.say(f"interrupted at epoch {trainer.state.epoch}, iteration {trainer.state.iteration}; "
                f"checkpoint {path}; run train again to resume")
        return {**summary, "interrupted": True, "checkpoint": str(path) if path else None}
    summary.update(interrupted=False, checkpoint=str(ckpt.last_checkpoint) if ckpt.last_checkpoint else None)
    return export_selected(run.cfg, run.layout, run.built.to_save["model"], trainer.state.epoch, run.selection,
                           summary, write=idist.get_rank() == 0, say=run.say)


def _fit(run: _Run, split_lists: Path | None, device: torch.device, progress: bool) -> dict[str, Any]:
    """Resume (the same params and ``split_lists``' data), attach the handlers, validate the start, train."""
    trainer = run.built.trainer
    to_save = {**run.built.to_save, "trainer": trainer, "rng": RngState(), "selection": run.selection}
    run.resumed_from = resume_run(run.layout.run_dir, run_params(run.cfg, split_lists, run.built.to_save), to_save,
                                  resume=run.cfg.train.resume == "auto", log=run.say)
    if run.resumed_from:
        run.say(f"resuming from {run.resumed_from} (epoch {trainer.state.epoch}, iteration {trainer.state.iteration})")
    fit_epoch_length(trainer, len(run.data.train), run.say)
    run.nan = NanGuard(last_checkpoint=lambda: run.ckpt.last_checkpoint or (run.resumed_from or None), log=run.say,
                       resumed_from=run.resumed_from)
    evaluator = _attach_handlers(run, to_save, device, progress)
    if evaluator is not None and trainer.state.epoch == 0 and trainer.state.iteration == 0:
        evaluator.run(run.data.val)  # epoch 0 (before dvclive opens: its val curves start at epoch 1)
    if trainer.state.epoch >= run.epochs:
        run.say(f"already trained for {trainer.state.epoch} epochs (of {run.epochs}); nothing to do")
    else:
        run.interrupt.run(trainer, run.data.train, run.epochs)
    return _finish(run)


def train(cfg: Config, *, split_dir: Path = Path("data/split"), out_dir: Path | None = None,
          max_epochs: int | None = None, train_data: Dataset | None = None, val_data: Dataset | None = None,
          log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Train ``cfg.model`` with its recipe into ``out_dir`` (default: :meth:`RunLayout.for_model`'s run
    folder); return a summary dict (also in ``<run>/logs/summary.json``).

    ``train_data`` / ``val_data`` replace the split-list datasets (tests, notebooks): items
    ``{"frames": [T, C, H, W], "video": str}`` with ``T >= n_input + n_output`` (train) and
    ``n_input + train.val_horizon`` (val). Raises VfpError for user-fixable problems, including
    a NaN loss (the message names the loss and the last good checkpoint).
    """
    rank, world = idist.get_rank(), idist.get_world_size()
    layout = RunLayout.for_model(cfg.model)
    layout = layout if out_dir is None else replace(layout, run_dir=Path(out_dir))
    say = log if rank == 0 else (lambda _m: None)
    if rank == 0:
        check_writable(layout.run_dir)
    manual_seed(cfg.seed)
    section, recipe = cfg.model_section(), get_recipe(get_spec(cfg.model).recipe)
    model = predictor_from_config(cfg)
    margin = set_base_margin(model, cfg.train.base_margin if cfg.data.size == "source" else 0)
    if not recipe.trains:
        say(f"{cfg.model}: nothing to train; wrote {layout.model_file}")
        return export_untrained(cfg, layout, model, write=rank == 0)
    device = idist.device() if world > 1 else resolve_device(cfg.train.device)
    setup_backends(device)
    split_lists = Path(split_dir) if train_data is None else None  # the run's identity includes its data
    if train_data is None or val_data is None:
        own_train, own_val = train_val_datasets(cfg, Path(split_dir), model.n_input, section.n_output, margin)
        train_data = own_train if train_data is None else train_data
        val_data = own_val if val_data is None else val_data
    data = train_loaders(cfg, train_data, val_data, rank=rank, world=world, device=device, say=say)
    if cfg.train.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    epochs = min(cfg.train.epochs, section.max_epochs or cfg.train.epochs)  # the section's cap, if it has one
    if epochs < cfg.train.epochs:
        say(f"{cfg.model}: {epochs} epochs ({cfg.model}.max_epochs caps train.epochs {cfg.train.epochs})")
    iterations = epochs * len(data.train)  # the configured run (LR schedules), also when argument max_epochs cuts it
    frame_size = decode_size(cfg.data.size) or (cfg.train.crop,) * 2  # source: training sees crops only
    built = recipe.build(Context(cfg.model, model, section, cfg.train, device, frame_size, iterations, margin))
    selection = Selection(layout.run_dir, built.to_save["model"], AtomicSaver(layout.run_dir),
                          phase_of=built.phase_of, exportable=built.exportable, log=say,
                          ok_to_save=lambda: run.ckpt.ok_to_save(built.trainer))
    run = _Run(cfg, layout, epochs if max_epochs is None else max_epochs, say, data, built, selection,
               Interrupt(built.trainer))
    return _fit(run, split_lists, device, progress)


# ---------------------------------------------------------------- several processes

def _worker(raw_cfg: dict, kwargs: dict) -> None:
    train(parse_model_config(raw_cfg, "params"), **kwargs)


def run(cfg: Config, nproc_per_node: int = 1, backend: str | None = None, **kwargs) -> dict:
    """``train`` on one process, or on ``nproc_per_node`` spawned processes (``backend`` gloo|nccl, default nccl
    with CUDA, else gloo), or on the processes ``torchrun`` started. Multi-process runs return rank 0's summary."""
    if nproc_per_node <= 1 and not under_torchrun():
        return train(cfg, **kwargs)
    out_dir = Path(kwargs.get("out_dir") or RunLayout.for_model(cfg.model).run_dir)
    if process_rank() == 0:  # only rank 0 writes the run folder (other nodes need none)
        check_writable(out_dir)
    launch(_worker, to_dict(cfg), kwargs, nproc_per_node=nproc_per_node, backend=backend)  # Config: not picklable
    summary = replace(RunLayout.for_model(cfg.model), run_dir=out_dir).summary
    return read_json_object(summary, "summary") if summary.exists() else {"model": cfg.model, "run_dir": str(out_dir)}
