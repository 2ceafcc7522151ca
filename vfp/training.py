"""Training: config -> datasets, model, engines, handlers -> ``models/<model>/``.

Output folder (``models/<model>/`` by default; only rank 0 writes):

* ``checkpoint_<iteration>.pt``  last ``train.n_saved`` resumable checkpoints (see handlers.checkpoint)
* ``best_model_<epoch>_psnr_t1=<dB>.pt``  weights of the best validation epoch
* ``config.json``                the params defining the run + hash (resume guard)
* ``model.pt``                   what evaluate / ``vfp predict`` load (:func:`load_trained`)
* ``snapshots/epoch_NNN/`` and ``snapshots/latest/``  GIF pairs
* ``logs/{train_steps,train_epoch,val}.csv``, ``logs/loss_curves.png``, ``logs/summary.json``
"""
from __future__ import annotations

import math
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.utils import manual_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from vfp.config import Config, to_dict
from vfp.engines.common import maybe_compile, resolve_device, setup_backends, unwrap
from vfp.engines.gan import ScalesForward, create_gan_trainer
from vfp.engines.supervised import create_evaluator, create_supervised_trainer
from vfp.errors import VfpError
from vfp.handlers.checkpoint import (
    CheckpointHandler,
    RngState,
    best_files,
    load_latest,
    prepare_run_dir,
    run_params,
    write_json_atomic,
)
from vfp.handlers.loss_log import LossLog
from vfp.handlers.progress import NanGuard, Progress
from vfp.handlers.snapshots import Snapshots
from vfp.modelio import MODEL_FILE, check_writable, save_trained



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
    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split

    cache = Path(cfg.data.cache) if cfg.data.cache else None
    train = ClipDataset(read_split(split_dir, "train"), n_input + n_output, cfg.data.interval, cfg.data.size,
                        random_start=True, clips_per_video=cfg.train.clips_per_video, seed=cfg.seed,
                        cache_dir=cache)
    val = ClipDataset(read_split(split_dir, "val"), n_input + cfg.evaluate.horizon, cfg.data.interval,
                      cfg.data.size, random_start=False, clips_per_video=1, seed=cfg.seed, cache_dir=cache)
    if len(train) == 0:
        raise VfpError(f"{split_dir}/train.txt: no video is long enough for {n_input + n_output} frames "
                       f"every {cfg.data.interval}")
    return train, val


# ---------------------------------------------------------------- files

def _data_meta(cfg: Config) -> dict:
    """Frame size and interval the model was trained at (``vfp predict`` reads them)."""
    return {"size": list(cfg.data.size), "interval": cfg.data.interval}


# ---------------------------------------------------------------- build

def _discriminator(cfg: Config, generator: nn.Module, size: int) -> nn.Module:
    from vfp.models.registry import build_discriminator

    kwargs = dict(cfg.model_section().discriminator)
    kwargs.update(channels=generator.channels, n_input=generator.n_input, scales=list(generator.scales), size=size)
    try:
        return build_discriminator(**kwargs)
    except (TypeError, ValueError) as err:
        raise VfpError(f"{cfg.model}.discriminator: {err}") from None


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


def train(cfg: Config, *, split_dir: Path = Path("data/split"), out_dir: Path | None = None,
          max_epochs: int | None = None, train_data: Dataset | None = None, val_data: Dataset | None = None,
          log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Train ``cfg.model``; return a summary dict (also in ``<run>/logs/summary.json``).

    ``train_data`` / ``val_data`` replace the split-list datasets (tests, notebooks): items
    ``{"frames": [T, C, H, W], "video": str}`` with ``T >= n_input + n_output`` (train) and
    ``n_input + evaluate.horizon`` (val). Raises VfpError for user-fixable problems, including
    a NaN loss (the message names the loss and the last good checkpoint).
    """
    from vfp.models.registry import build_model

    rank, world = idist.get_rank(), idist.get_world_size()
    name, section, tc = cfg.model, cfg.model_section(), cfg.train
    run_dir = Path(out_dir) if out_dir is not None else Path("models") / name
    epochs = max_epochs if max_epochs is not None else tc.epochs
    say = log if rank == 0 else (lambda _msg: None)
    if rank == 0:
        check_writable(run_dir)
    manual_seed(cfg.seed)

    model = build_model(name, **dict(section.net))
    if not getattr(model, "trainable", True):
        path = save_trained(run_dir / MODEL_FILE, name, section.net, model, n_output=section.n_output,
                            extra=_data_meta(cfg)) if rank == 0 else None
        say(f"{name}: nothing to train; wrote {run_dir / MODEL_FILE}")
        return {"model": name, "trained": False, "model_path": str(path or run_dir / MODEL_FILE)}

    device = idist.device() if world > 1 else resolve_device(tc.device)
    setup_backends(device)
    n_input, n_output, horizon = model.n_input, section.n_output, cfg.evaluate.horizon
    if train_data is None or val_data is None:
        ds_train, ds_val = _datasets(cfg, Path(split_dir), n_input, n_output)
        train_data = train_data if train_data is not None else ds_train
        val_data = val_data if val_data is not None else ds_val

    per_rank_batch = max(1, tc.batch_size // world)
    train_sampler = EpochSampler(len(train_data), seed=cfg.seed, shuffle=True, rank=rank, world_size=world)
    train_loader = _loader(train_data, train_sampler, per_rank_batch, tc.num_workers, device, cfg.seed)
    val_loader = None
    if len(val_data) > 0:
        val_sampler = EpochSampler(len(val_data), shuffle=False, rank=rank, world_size=world)
        val_loader = _loader(val_data, val_sampler, max(1, cfg.evaluate.batch_size // world),
                             tc.num_workers, device, cfg.seed)

    if tc.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    plain = model
    to_save: dict[str, Any] = {"model": plain}
    if name == "multiscale_gan":
        size = tc.crop or cfg.data.size[0]
        use_d = section.loss.lam_adv != 0
        if use_d and not tc.crop and cfg.data.size[0] != cfg.data.size[1]:
            raise VfpError(f"{name}: the discriminator needs square frames; set train.crop (got data.size "
                           f"{list(cfg.data.size)})")
        g_model = idist.auto_model(maybe_compile(ScalesForward(plain), tc.compile, device))
        opt_g = idist.auto_optim(torch.optim.Adam(plain.parameters(), lr=section.lr))
        disc = opt_d = None
        if use_d:
            disc_plain = _discriminator(cfg, plain, size)
            disc = idist.auto_model(disc_plain)
            opt_d = idist.auto_optim(torch.optim.Adam(disc_plain.parameters(), lr=section.lr_d))
            to_save.update(discriminator=disc_plain, optimizer_d=opt_d)
        trainer = create_gan_trainer(g_model, disc, opt_g, opt_d, section.loss, section.schedule,
                                     n_output=n_output, grad_clip=tc.grad_clip, device=device, amp=tc.amp,
                                     crop=tc.crop, channels_last=tc.channels_last)
        optimizer = opt_g
        eval_model = plain
    else:
        run_model = idist.auto_model(maybe_compile(plain, tc.compile, device))
        optimizer = idist.auto_optim(torch.optim.Adam(plain.parameters(), lr=section.lr))
        trainer = create_supervised_trainer(run_model, optimizer, n_output=n_output, grad_clip=tc.grad_clip,
                                            device=device, amp=tc.amp, crop=tc.crop,
                                            channels_last=tc.channels_last)
        eval_model = run_model
    to_save.update(optimizer=optimizer, trainer=trainer, rng=RngState())
    if trainer.scaler is not None:
        to_save["scaler"] = trainer.scaler

    # ---- resume (rank 0 decides, everyone loads the same file)
    resumed_from = None
    if rank == 0:
        can_resume = prepare_run_dir(run_dir, run_params(cfg), resume=tc.resume == "auto", log=say)
        path = load_latest(run_dir, to_save, log=say) if can_resume else None
        resumed_from = str(path) if path else ""
    if world > 1:
        idist.barrier()
        resumed_from = idist.broadcast(resumed_from if rank == 0 else "", src=0, safe_mode=True)
        if rank != 0 and resumed_from:
            from ignite.handlers import Checkpoint

            Checkpoint.load_objects(to_save, torch.load(resumed_from, map_location="cpu", weights_only=True))
    if resumed_from:
        say(f"resuming from {resumed_from} (epoch {trainer.state.epoch}, iteration {trainer.state.iteration})")

    # ---- handlers
    @trainer.on(Events.EPOCH_STARTED)
    def _set_epoch(engine: Engine) -> None:
        done = engine.state.iteration - (engine.state.epoch - 1) * (engine.state.epoch_length or 0)
        train_sampler.set_epoch(engine.state.epoch, skip=max(0, done) * per_rank_batch)
        if hasattr(train_data, "set_epoch"):
            train_data.set_epoch(engine.state.epoch)
        engine.set_data(train_loader)  # a fresh iterator AFTER set_epoch (also for the first epoch)

    ckpt = CheckpointHandler(run_dir, to_save, n_saved=tc.n_saved, log=say)
    guard = NanGuard(last_checkpoint=lambda: ckpt.last_checkpoint or (resumed_from or None), log=say)
    guard.attach(trainer)
    evaluator = None
    if val_loader is not None:
        evaluator = create_evaluator(eval_model, n_input=n_input, horizon=horizon, device=device, amp=tc.amp)

        @trainer.on(Events.EPOCH_COMPLETED(every=tc.val_every) | Events.COMPLETED)
        def _validate(engine: Engine) -> None:
            if getattr(engine.state, "nan_key", None) or interrupt.hit:
                return
            if engine.state.epoch in validated:
                return
            validated.add(engine.state.epoch)
            evaluator.run(val_loader)
            say(f"epoch {engine.state.epoch}: val psnr_t1 {evaluator.state.metrics['psnr_t1']:.2f} dB, "
                f"psnr_mean {evaluator.state.metrics['psnr_mean']:.2f} dB")

        validated: set[int] = set()
    if rank == 0:
        LossLog(run_dir / "logs").attach(trainer, evaluator)
        if tc.snapshot_videos and val_loader is not None:
            clips = [val_data[i] for i in range(min(tc.snapshot_videos, len(val_data)))]
            Snapshots(plain, clips, run_dir / "snapshots", n_input=n_input, horizon=horizon,
                      every=tc.snapshot_every, device=device).attach(trainer)
        if progress:
            Progress(log=say).attach(trainer)
    ckpt.attach(trainer, evaluator)  # after validation: best file first, then the regular one

    # ---- run
    interrupt = _Interrupt(trainer)
    if trainer.state.epoch >= epochs:
        say(f"already trained for {trainer.state.epoch} epochs (train.epochs {epochs}); nothing to do")
    else:
        with interrupt:
            try:
                trainer.run(train_loader, max_epochs=epochs)
            except KeyboardInterrupt:
                interrupt.hit = True
            except RuntimeError:
                if not interrupt.hit:  # e.g. a DataLoader worker killed by the same Ctrl-C
                    raise

    summary: dict[str, Any] = {
        "model": name, "trained": True, "epoch": trainer.state.epoch, "iteration": trainer.state.iteration,
        "resumed_from": resumed_from or None, "run_dir": str(run_dir),
    }
    if getattr(trainer.state, "nan_key", None):
        raise VfpError(trainer.state.nan_message)
    if interrupt.hit:
        path = ckpt.save_now(trainer)
        say(f"interrupted at epoch {trainer.state.epoch}, iteration {trainer.state.iteration}; "
            f"checkpoint {path}; run train again to resume")
        summary.update(interrupted=True, checkpoint=str(path) if path else None)
        return summary

    best = best_files(run_dir)
    weights, source = plain.state_dict(), "last"
    if best:
        weights = torch.load(best[-1][1], map_location="cpu", weights_only=True)
        source = best[-1][1].name
    summary.update(interrupted=False, checkpoint=str(ckpt.last_checkpoint) if ckpt.last_checkpoint else None,
                   best_psnr_t1=best[-1][0] if best else None, weights=source,
                   model_path=str(run_dir / MODEL_FILE))
    if rank == 0:
        final = build_model(name, **dict(section.net))
        final.load_state_dict(weights)
        save_trained(run_dir / MODEL_FILE, name, section.net, final, n_output=n_output,
                     extra={"epoch": trainer.state.epoch, "weights": source, **_data_meta(cfg)})
        write_json_atomic(run_dir / "logs" / "summary.json", summary)
        say(f"wrote {run_dir / MODEL_FILE} ({source} weights)")
    return summary


# ---------------------------------------------------------------- distributed entry point

def _worker(local_rank: int, raw_cfg: dict, kwargs: dict) -> None:
    from vfp.config import parse_config

    train(parse_config(raw_cfg, "params"), **kwargs)


def run(cfg: Config, nproc_per_node: int = 1, backend: str | None = None, **kwargs) -> dict:
    """``train`` on one process, or on ``nproc_per_node`` spawned processes (``backend`` gloo|nccl).

    Under ``torchrun`` (``WORLD_SIZE`` in the environment) the processes exist already: the
    backend defaults to nccl with CUDA, else gloo. Multi-process runs return rank 0's summary.
    """
    under_torchrun = "WORLD_SIZE" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if nproc_per_node <= 1 and not under_torchrun:
        return train(cfg, **kwargs)
    out_dir = Path(kwargs.get("out_dir") or Path("models") / cfg.model)
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
