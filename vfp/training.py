"""Training: config -> datasets, the model's recipe (engine + what to checkpoint), handlers -> ``models/<model>/``.

Output folder (``models/<model>/`` by default; only rank 0 writes):

* ``checkpoint_<iteration>.pt``  last ``train.n_saved`` resumable checkpoints (see handlers.checkpoint)
* ``best_model_<epoch>_gain_best_t1=<dB>.pt``  weights of the selected epoch (best validation gain over
  the stronger of copy-last and flow at t+1 among the exportable epochs, epoch 0 included when the
  untrained model predicts one of them exactly; see handlers.selection)
* ``config.json``                the params defining the run + hash (resume guard)
* ``model.pt``                   what evaluate / ``vfp predict`` load (:func:`load_trained`)
* ``snapshots/epoch_NNN/`` and ``snapshots/latest/``  GIF pairs
* ``logs/``  dvclive (handlers.live): ``metrics.json``, ``plots/metrics/{train,val}/*.tsv`` per epoch,
  ``plots/images/`` snapshot strips; and ``logs/summary.json`` (the exported epoch and why)
"""
from __future__ import annotations

import math
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint
from ignite.utils import manual_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from vfp.baselines import FLOW, predictors
from vfp.config import Config, decode_size, to_dict
from vfp.distributed import (
    attach_clip_log,
    fit_epoch_length,
    note_global_batch,
    process_rank,
    share_from_rank0,
)
from vfp.engines.common import resolve_device, setup_backends
from vfp.engines.supervised import create_evaluator
from vfp.errors import VfpError
from vfp.handlers.checkpoint import (
    AtomicSaver,
    CheckpointHandler,
    RngState,
    load_latest,
    load_weights,
    prepare_run_dir,
    run_params,
    write_json_atomic,
)
from vfp.handlers.live import LiveLog
from vfp.handlers.progress import NanGuard, Progress
from vfp.handlers.selection import Selection, verdicts
from vfp.handlers.snapshots import Snapshots
from vfp.modelio import MODEL_FILE, check_writable, save_trained
from vfp.models.base import predictor_from_config
from vfp.models.params import parse_model_config
from vfp.models.registry import get_spec
from vfp.recipes import Built, Context, as_kwargs, get_recipe

# ---------------------------------------------------------------- data

class EpochSampler(Sampler[int]):
    """Indices of this rank's share of the data; the shuffle is a pure function of (seed, epoch).

    ``set_epoch(epoch, skip=0)`` must be called before iterating; ``skip`` drops the first
    indices (resuming in the middle of an epoch). Padded by repetition so that every rank
    gets the same count (``ceil(n / world_size)``).
    """

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1):
        if n < 1:
            raise ValueError("the dataset is empty")
        self.n, self.seed, self.shuffle, self.rank, self.world_size = n, seed, shuffle, rank, world_size
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = int(epoch), int(skip)

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = math.ceil(self.n / self.world_size)
        order = (order * math.ceil(per_rank * self.world_size / self.n))[: per_rank * self.world_size]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.skip :])

    def __len__(self) -> int:
        return math.ceil(self.n / self.world_size)


def _loader(dataset: Dataset, sampler: EpochSampler, batch_size: int, num_workers: int,
            device: torch.device, seed: int) -> DataLoader:
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
        pin_memory=device.type == "cuda", drop_last=False,
        generator=torch.Generator().manual_seed(seed),  # never draws from the global RNG
        persistent_workers=False,
    )


def _datasets(cfg: Config, split_dir: Path, n_input: int, n_output: int) -> tuple[Dataset, Dataset]:
    """Training clips (random starts or all starts, crops, strides, augmentation) and validation clips (fixed;
    at ``data.size: source``, ``train.crop`` windows at fixed random places: full frames of every size
    cannot share a batch, and cost up to ~20x a window on CPU)."""
    from vfp.data.augment import from_train_config
    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split

    cache, tc, size = (Path(cfg.data.cache) if cfg.data.cache else None), cfg.train, decode_size(cfg.data.size)
    starts = {"starts": "all", "max_clips": tc.clips_per_epoch} if tc.starts == "all" else {"random_start": True}
    train = ClipDataset(read_split(split_dir, "train"), n_input + n_output, cfg.data.interval, size,
                        clips_per_video=tc.clips_per_video, seed=cfg.seed, cache_dir=cache,
                        augment=from_train_config(tc), crop=(tc.crop,) * 2 if tc.crop else None,
                        steps=tuple(tc.stride), **starts)
    # validation: starts every `interval` frames, at most VAL_CLIPS (a fixed subset), never augmented
    val = ClipDataset(read_split(split_dir, "val"), max(n_input, 2) + cfg.evaluate.horizon, cfg.data.interval,
                      size, seed=cfg.seed, cache_dir=cache, starts="all", stride=cfg.data.interval,
                      max_clips=VAL_CLIPS, crop=(tc.crop,) * 2 if size is None else None)  # fixed: no set_epoch
    if len(train) == 0:
        raise VfpError(f"{split_dir}/train.txt: no video is long enough for {n_input + n_output} frames "
                       f"every {cfg.data.interval}")
    return train, val


VAL_CLIPS = 256  # validation clips at most (model selection compares every epoch on the same ones)


# ---------------------------------------------------------------- files

def _data_meta(cfg: Config) -> dict:
    """Frame size and interval the model was trained at (``vfp predict`` reads them)."""
    size = cfg.data.size if cfg.data.size == "source" else list(cfg.data.size)
    return {"size": size, "interval": cfg.data.interval}


# ---------------------------------------------------------------- pieces of train()

@dataclass
class _Run:
    """Where and how this process trains: rank, world size, output folder, device, epochs, logger."""

    rank: int
    world: int
    run_dir: Path
    epochs: int
    say: Callable[[str], None]
    device: torch.device | None = None


class _Interrupt:
    """First SIGINT: finish the current iteration, then stop (and save); second: abort."""

    def __init__(self, trainer: Engine):
        self.trainer, self.hit, self._old = trainer, False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True
        self.trainer.terminate()

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


@dataclass
class _Loaders:
    train_data: Dataset
    val_data: Dataset
    train_sampler: EpochSampler
    train: DataLoader
    val: DataLoader | None
    per_rank_batch: int


def _loaders(cfg: Config, run: _Run, split_dir: Path, n_input: int, n_output: int,
             train_data: Dataset | None, val_data: Dataset | None) -> _Loaders:
    """Datasets (the split lists unless given) and their loaders (this rank's share, reproducible order)."""
    tc = cfg.train
    if train_data is None or val_data is None:
        ds_train, ds_val = _datasets(cfg, Path(split_dir), n_input, n_output)
        train_data = train_data if train_data is not None else ds_train
        val_data = val_data if val_data is not None else ds_val
    per_rank_batch = note_global_batch(tc.batch_size, run.world, run.say)
    sampler = EpochSampler(len(train_data), seed=cfg.seed, shuffle=True, rank=run.rank, world_size=run.world)
    train_loader = _loader(train_data, sampler, per_rank_batch, tc.num_workers, run.device, cfg.seed)
    val_loader = None
    if len(val_data) > 0:
        val_sampler = EpochSampler(len(val_data), shuffle=False, rank=run.rank, world_size=run.world)
        val_loader = _loader(val_data, val_sampler, max(1, cfg.evaluate.batch_size // run.world),
                             tc.num_workers, run.device, cfg.seed)
    return _Loaders(train_data, val_data, sampler, train_loader, val_loader, per_rank_batch)


def _resume(cfg: Config, run: _Run, to_save: dict[str, Any], split_dir: Path | None) -> str:
    """Load the latest checkpoint of the same params and data (``split_dir``'s lists) into ``to_save``
    (rank 0 decides); its path or ''."""
    resumed_from = ""
    if run.rank == 0:
        can_resume = prepare_run_dir(run.run_dir, run_params(cfg, split_dir), resume=cfg.train.resume == "auto",
                                     log=run.say)
        path = load_latest(run.run_dir, to_save, log=run.say) if can_resume else None
        resumed_from = str(path) if path else ""
    if run.world > 1:  # the other ranks get rank 0's checkpoint: no other node needs the run folder
        resumed_from = idist.broadcast(resumed_from if run.rank == 0 else "", src=0, safe_mode=True)
        if resumed_from:
            state = share_from_rank0(torch.load(resumed_from, map_location="cpu", weights_only=True)
                                     if run.rank == 0 else None)
            if run.rank != 0:
                Checkpoint.load_objects(to_save, state)
    if resumed_from:
        state = to_save["trainer"].state
        run.say(f"resuming from {resumed_from} (epoch {state.epoch}, iteration {state.iteration})")
    return resumed_from


def _attach_epoch_data(trainer: Engine, data: _Loaders) -> None:
    @trainer.on(Events.EPOCH_STARTED)
    def _set_epoch(engine: Engine) -> None:
        done = engine.state.iteration - (engine.state.epoch - 1) * (engine.state.epoch_length or 0)
        data.train_sampler.set_epoch(engine.state.epoch, skip=max(0, done) * data.per_rank_batch)
        if hasattr(data.train_data, "set_epoch"):
            data.train_data.set_epoch(engine.state.epoch)
        engine.set_data(data.train)  # a fresh iterator AFTER set_epoch (also for the first epoch)


def _attach_validation(cfg: Config, run: _Run, trainer: Engine, eval_model: nn.Module, n_input: int,
                       data: _Loaders, interrupt: _Interrupt) -> Engine | None:
    """Validation every ``train.val_every`` epochs and at the end (not after a NaN or an interrupt);
    the starting point (epoch 0) is validated by :func:`_validate_start`."""
    if data.val is None:
        return None
    evaluator = create_evaluator(eval_model, n_input=n_input, horizon=cfg.evaluate.horizon, device=run.device,
                                 amp=cfg.train.amp, flow=predictors(cfg.flow.method, cfg.flow.preset)[FLOW])
    validated: set[int] = set()

    @trainer.on(Events.EPOCH_COMPLETED(every=cfg.train.val_every) | Events.COMPLETED)
    def _validate(engine: Engine) -> None:
        if getattr(engine.state, "nan_key", None) or interrupt.hit or engine.state.epoch in validated:
            return
        validated.add(engine.state.epoch)
        evaluator.run(data.val)

    return evaluator


def _validate_start(trainer: Engine, evaluator: Engine | None, data: _Loaders) -> None:
    """Validate the untrained model (epoch 0: a candidate for export when it predicts a baseline exactly).

    Runs before ``trainer.run`` (dvclive is not open yet: the val curves start at epoch 1); it
    draws nothing from the global RNG (eval mode, the loader has its own generator)."""
    if evaluator is not None and trainer.state.epoch == 0 and trainer.state.iteration == 0:
        evaluator.run(data.val)


def _attach_logging(trainer: Engine, evaluator: Engine | None, run_dir: Path) -> None:
    """Loss / metric logs of the run (rank 0)."""
    LiveLog(run_dir).attach(trainer, evaluator)


def _attach_handlers(cfg: Config, run: _Run, trainer: Engine, built: Built, to_save: dict[str, Any],
                     data: _Loaders, resumed_from: str, progress: bool
                     ) -> tuple[CheckpointHandler, _Interrupt, Engine | None]:
    """Epoch data, NaN guard, validation + selection, logs, snapshots, progress, then checkpoints."""
    tc, n_input = cfg.train, int(built.to_save["model"].n_input)
    _attach_epoch_data(trainer, data)
    attach_clip_log(trainer, data.train_sampler, run.rank, run.world)  # VFP_CLIP_LOG: each rank's clips
    ckpt = CheckpointHandler(run.run_dir, to_save, n_saved=tc.n_saved, log=run.say)
    selection = to_save["selection"]
    selection.ok_to_save = lambda: ckpt.ok_to_save(trainer)
    NanGuard(last_checkpoint=lambda: ckpt.last_checkpoint or (resumed_from or None), log=run.say,
             resumed_from=resumed_from).attach(trainer)
    interrupt = _Interrupt(trainer)
    evaluator = _attach_validation(cfg, run, trainer, built.eval_model, n_input, data, interrupt)
    if evaluator is not None:
        selection.attach(trainer, evaluator)
    if run.rank == 0:
        _attach_logging(trainer, evaluator, run.run_dir)
        if tc.snapshot_videos and data.val is not None:
            clips = [data.val_data[i] for i in range(min(tc.snapshot_videos, len(data.val_data)))]
            Snapshots(built.to_save["model"], clips, run.run_dir / "snapshots", n_input=n_input,
                      horizon=cfg.evaluate.horizon, every=tc.snapshot_every, device=run.device).attach(trainer)
        if progress:
            Progress(log=run.say).attach(trainer)
    ckpt.attach(trainer)  # after validation: the selection's best file first, then the regular one
    return ckpt, interrupt, evaluator


def _run_epochs(trainer: Engine, loader: DataLoader, run: _Run, interrupt: _Interrupt) -> None:
    if trainer.state.epoch >= run.epochs:
        run.say(f"already trained for {trainer.state.epoch} epochs (train.epochs {run.epochs}); nothing to do")
        return
    with interrupt:
        try:
            trainer.run(loader, max_epochs=run.epochs)
        except KeyboardInterrupt:
            interrupt.hit = True
        except RuntimeError:
            if not interrupt.hit:  # e.g. a DataLoader worker killed by the same Ctrl-C
                raise


def _selected_weights(model: nn.Module, trainer: Engine, selection: Selection, load: bool) -> tuple[dict, dict]:
    """``(state_dict, selection summary)``: the selected epoch's weights, else the last epoch's (said why);
    a selected epoch whose file is missing or damaged is a one-line error, never another epoch's weights."""
    chosen = selection.decision()
    if chosen is not None:
        file = chosen.get("weights_file") or selection.run_dir / f"best_model_{chosen['epoch']}_gain_best_t1=*.pt"
        weights = load_weights(Path(file), f"the selected epoch's ({chosen['epoch']}) weights") if load else {}
        return weights, chosen
    last_phase = selection.phase_of(trainer.state.epoch) if trainer.state.epoch else "start"
    why = ("no validation data: exported the last epoch" if chosen is None and not selection.history else
           "no validated epoch may be exported (see history): exported the last epoch")
    return model.state_dict(), {"epoch": trainer.state.epoch, "phase": last_phase, **verdicts(selection.history),
                                "why": why, "weights_file": None, "history": list(selection.history)}


def _export(cfg: Config, run: _Run, model: nn.Module, trainer: Engine, ckpt: CheckpointHandler,
            selection: Selection, summary: dict[str, Any]) -> dict[str, Any]:
    """Write ``model.pt`` from the selected epoch's weights (:mod:`vfp.handlers.selection`) and the summary."""
    weights, chosen = _selected_weights(model, trainer, selection, load=run.rank == 0)
    source = Path(chosen["weights_file"]).name if chosen.get("weights_file") else "last"
    run.say(f"exporting epoch {chosen['epoch']} [{chosen['phase']}]: {chosen['why']}")
    summary.update(interrupted=False, checkpoint=str(ckpt.last_checkpoint) if ckpt.last_checkpoint else None,
                   selected=chosen, exported_epoch=chosen["epoch"], exported_phase=chosen["phase"],
                   beat_copy_last=chosen["beat_copy_last"], beat_flow=chosen["beat_flow"],
                   left_start=chosen["left_start"], weights=source, model_path=str(run.run_dir / MODEL_FILE))
    for line in chosen["verdict"]:  # said plainly, apart from the why: no epoch beat flow / never left its start
        run.say(line)
    if run.rank == 0:
        section = cfg.model_section()
        final = predictor_from_config(cfg)
        final.load_state_dict(weights)
        save_trained(run.run_dir / MODEL_FILE, cfg.model, as_kwargs(section.net), final, n_output=section.n_output,
                     extra={"epoch": chosen["epoch"], "phase": chosen["phase"], "weights": source,
                            **_data_meta(cfg)})
        write_json_atomic(run.run_dir / "logs" / "summary.json", summary)
        run.say(f"wrote {run.run_dir / MODEL_FILE} ({source} weights)")
    return summary


def _export_untrained(cfg: Config, run: _Run, model: nn.Module) -> dict[str, Any]:
    """A model whose recipe trains nothing (baselines): its model file, as built."""
    section, path = cfg.model_section(), run.run_dir / MODEL_FILE
    if run.rank == 0:
        save_trained(path, cfg.model, as_kwargs(section.net), model, n_output=section.n_output,
                     extra=_data_meta(cfg))
    run.say(f"{cfg.model}: nothing to train; wrote {path}")
    return {"model": cfg.model, "trained": False, "model_path": str(path)}


def _finish(cfg: Config, run: _Run, built: Built, trainer: Engine, ckpt: CheckpointHandler,
            interrupt: _Interrupt, resumed_from: str, selection: Selection) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "model": cfg.model, "trained": True, "epoch": trainer.state.epoch, "iteration": trainer.state.iteration,
        "resumed_from": resumed_from or None, "run_dir": str(run.run_dir),
    }
    if getattr(trainer.state, "nan_key", None):
        raise VfpError(trainer.state.nan_message)
    if interrupt.hit:
        path = ckpt.save_now(trainer)
        run.say(f"interrupted at epoch {trainer.state.epoch}, iteration {trainer.state.iteration}; "
                f"checkpoint {path}; run train again to resume")
        summary.update(interrupted=True, checkpoint=str(path) if path else None)
        return summary
    return _export(cfg, run, built.to_save["model"], trainer, ckpt, selection, summary)


def train(cfg: Config, *, split_dir: Path = Path("data/split"), out_dir: Path | None = None,
          max_epochs: int | None = None, train_data: Dataset | None = None, val_data: Dataset | None = None,
          log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Train ``cfg.model`` with its recipe; return a summary dict (also in ``<run>/logs/summary.json``).

    ``train_data`` / ``val_data`` replace the split-list datasets (tests, notebooks): items
    ``{"frames": [T, C, H, W], "video": str}`` with ``T >= n_input + n_output`` (train) and
    ``n_input + evaluate.horizon`` (val). Raises VfpError for user-fixable problems, including
    a NaN loss (the message names the loss and the last good checkpoint).
    """
    rank = idist.get_rank()
    run = _Run(rank, idist.get_world_size(), Path(out_dir) if out_dir is not None else Path("models") / cfg.model,
               max_epochs if max_epochs is not None else cfg.train.epochs, log if rank == 0 else (lambda _m: None))
    if rank == 0:
        check_writable(run.run_dir)
    manual_seed(cfg.seed)
    section, recipe = cfg.model_section(), get_recipe(get_spec(cfg.model).recipe)
    model = predictor_from_config(cfg)
    if not recipe.trains:
        return _export_untrained(cfg, run, model)
    run.device = idist.device() if run.world > 1 else resolve_device(cfg.train.device)
    setup_backends(run.device)
    data = _loaders(cfg, run, split_dir, model.n_input, section.n_output, train_data, val_data)
    if cfg.train.channels_last and run.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    iterations = cfg.train.epochs * len(data.train)  # the configured run (LR schedules), also when max_epochs cuts it
    frame_size = decode_size(cfg.data.size) or (cfg.train.crop,) * 2  # source: training sees crops only
    built = recipe.build(Context(cfg.model, model, section, cfg.train, run.device, frame_size, iterations))
    selection = Selection(run.run_dir, built.to_save["model"], AtomicSaver(run.run_dir), phase_of=built.phase_of,
                          exportable=built.exportable, log=run.say)
    to_save = {**built.to_save, "trainer": built.trainer, "rng": RngState(), "selection": selection}
    resumed_from = _resume(cfg, run, to_save, Path(split_dir) if train_data is None else None)
    fit_epoch_length(built.trainer, len(data.train), run.say)
    ckpt, interrupt, evaluator = _attach_handlers(cfg, run, built.trainer, built, to_save, data, resumed_from,
                                                  progress)
    _validate_start(built.trainer, evaluator, data)
    _run_epochs(built.trainer, data.train, run, interrupt)
    return _finish(cfg, run, built, built.trainer, ckpt, interrupt, resumed_from, selection)


# ---------------------------------------------------------------- distributed entry point

def _worker(local_rank: int, raw_cfg: dict, kwargs: dict) -> None:
    train(parse_model_config(raw_cfg, "params"), **kwargs)


def run(cfg: Config, nproc_per_node: int = 1, backend: str | None = None, **kwargs) -> dict:
    """``train`` on one process, or on ``nproc_per_node`` spawned processes (``backend`` gloo|nccl).

    Under ``torchrun`` (``WORLD_SIZE`` in the environment) the processes exist already: the
    backend defaults to nccl with CUDA, else gloo. Multi-process runs return rank 0's summary.
    """
    under_torchrun = "WORLD_SIZE" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if nproc_per_node <= 1 and not under_torchrun:
        return train(cfg, **kwargs)
    out_dir = Path(kwargs.get("out_dir") or Path("models") / cfg.model)
    if process_rank() == 0:  # only rank 0 writes the run folder (other nodes need none)
        check_writable(out_dir)
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    try:
        with idist.Parallel(backend=backend, nproc_per_node=None if under_torchrun else nproc_per_node) as parallel:
            parallel.run(_worker, to_dict(cfg), kwargs)  # Config holds mappingproxy: not picklable
    except VfpError:
        raise
    except Exception as err:  # a worker's VfpError arrives wrapped with its traceback text
        lines = [ln for ln in str(err).splitlines() if ln.strip()]
        vfp_lines = [ln for ln in lines if "VfpError: " in ln]
        if vfp_lines:
            raise VfpError(vfp_lines[-1].split("VfpError: ", 1)[1]) from None
        raise
    summary_path = out_dir / "logs" / "summary.json"
    if summary_path.exists():
        import json

        return json.loads(summary_path.read_text())
    return {"model": cfg.model, "run_dir": str(out_dir)}
