"""Checkpoints: save (atomic, last ``n_saved``), resume, config guard.

Files in the run folder:

* ``checkpoint_<iteration>.pt``  model(s), optimizer(s), trainer state, RNG states
  (torch CPU/CUDA, numpy, python ``random``), AMP scalers; written through :mod:`vfp.fileio`
  (temp file in the same folder, fsync, rename), so a kill during a save leaves at most a
  ``.*.tmp`` file, which is never picked up (and is removed at the next start).
* ``best_model_<epoch>_gain_best_t1=<score>.pt``  the selected epoch's weights (written by handlers.selection).
* ``config.json``  the params that define the run (see :func:`run_params`) and their hash.

A checkpoint is never written while the weights hold NaN/inf or after the NaN guard fired.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint
from ignite.handlers.checkpoint import BaseSaveHandler

from vfp.config import Config, to_dict
from vfp.distributed import share_from_rank0
from vfp.errors import VfpError
from vfp.fileio import atomic_save, atomic_write_text, zip_damage
from vfp.models.registry import source_digest
from vfp.runs import CHECKPOINT_PATTERN, CONFIG_FILE, LOGS_DIR, MODEL_FILE, SNAPSHOTS_DIR, best_files, checkpoint_files

# train keys that do not change what a given epoch computes (so changing them keeps resuming)
_NON_RESULT_TRAIN_KEYS = ("epochs", "num_workers", "val_every", "snapshot_every", "snapshot_videos",
                          "n_saved", "resume", "device", "compile")


class RngState:
    """torch (CPU + CUDA), numpy and python ``random`` generator states as a checkpointable object."""

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": {"key": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                      "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
            "python": _to_lists(random.getstate()),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        n = state["numpy"]
        np.random.set_state((n["key"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(obj):
    return [_to_lists(o) for o in obj] if isinstance(obj, tuple) else obj


def params_finite(modules: Mapping[str, Any]) -> bool:
    """True when every parameter of every ``nn.Module`` in ``modules`` is finite."""
    for obj in modules.values():
        if isinstance(obj, torch.nn.Module):
            for p in obj.parameters():
                if not torch.isfinite(p).all():
                    return False
    return True


# ---------------------------------------------------------------- config guard

def run_params(cfg: Config, split_dir: Path | None = None, modules: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The params that define a training run (a resume needs them unchanged), with the training data's
    identity (its source, folder and decoder, and the contents of ``split_dir``'s train/val lists) and the
    code's: the digest of the source files defining each ``nn.Module`` of ``modules`` (the model, a GAN's
    discriminator; :func:`vfp.models.registry.source_digest`), so an edit of the model starts a new run."""
    train = {k: v for k, v in to_dict(cfg.train).items() if k not in _NON_RESULT_TRAIN_KEYS}
    section = {k: v for k, v in to_dict(cfg.model_section()).items() if k != "max_epochs"}  # as train.epochs
    size = cfg.data.size if cfg.data.size == "source" else list(cfg.data.size)
    data = {"source": cfg.data.source, "size": size, "interval": cfg.data.interval,
            "decoder": cfg.data.decoder}
    if cfg.data.source == "folder":
        data["folder"] = cfg.data.folder
    if split_dir is not None:
        data["lists"] = _lists_digest(Path(split_dir))
    code = {name: source_digest(m) for name, m in (modules or {}).items() if isinstance(m, torch.nn.Module)}
    return {"model": cfg.model, cfg.model: section, "train": train, "data": data,
            "seed": cfg.seed, **({"code": code} if code else {})}


def _lists_digest(split_dir: Path) -> str:
    """sha256 of the train and val split lists (the videos and segments a run learns and selects on)."""
    digest = hashlib.sha256()
    for name in ("train.txt", "val.txt"):
        path = split_dir / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def params_hash(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def prepare_run_dir(run_dir: Path, params: Mapping[str, Any], *, resume: bool,
                    log: Callable[[str], None] = print) -> bool:
    """Make ``run_dir`` ready for this run's ``params``; return True when a resume is possible.

    * leftover ``.*.tmp`` (and older ``tmp*``) files of an interrupted atomic save are removed;
    * ``resume`` False, or a ``config.json`` with another hash (or none beside old checkpoints):
      earlier checkpoints, ``config.json``, ``logs/``, ``snapshots/`` and the exported ``model.pt`` are
      MOVED to ``stale/<time>-<old hash>/`` (printed), and training starts fresh: until it exports, no
      model file of another run is left for evaluate or ``vfp predict`` to use;
    * then ``config.json`` is (re)written.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in [*run_dir.glob("tmp*"), *run_dir.glob(".*.tmp")]:
        if tmp.is_file():
            tmp.unlink()
    new_hash = params_hash(params)
    cfg_path = run_dir / CONFIG_FILE
    old_hash = None
    if cfg_path.exists():
        try:
            old_hash = json.loads(cfg_path.read_text()).get("hash")
        except (ValueError, AttributeError):
            old_hash = "unreadable"
    previous = [p for _, p in checkpoint_files(run_dir)] + [p for _, _, p in best_files(run_dir)]
    has_old = bool(previous) or any((run_dir / n).exists() for n in (LOGS_DIR, SNAPSHOTS_DIR, MODEL_FILE))
    same = old_hash == new_hash
    can_resume = resume and same and bool(checkpoint_files(run_dir))
    if has_old and not (resume and same):
        stale = run_dir / "stale" / f"{time.strftime('%Y%m%d-%H%M%S')}-{(old_hash or 'noconfig')[:8]}"
        stale.mkdir(parents=True, exist_ok=True)
        for p in previous + [run_dir / n for n in (CONFIG_FILE, LOGS_DIR, SNAPSHOTS_DIR, MODEL_FILE)]:
            if p.exists():
                shutil.move(str(p), str(stale / p.name))
        why = "train.resume is never" if not resume else "the params or the model's code changed since"
        log(f"note: starting fresh in {run_dir} ({why}); earlier checkpoints moved to {stale}")
    write_json_atomic(cfg_path, {"hash": new_hash, "params": params})
    return can_resume


def load_latest(run_dir: Path, to_load: Mapping[str, Any], *, log: Callable[[str], None] = print) -> Path | None:
    """Load the newest readable ``checkpoint_*.pt`` into ``to_load``; return its path (None if none).

    An unreadable file (truncated, garbage, a record failing its CRC-32, missing objects) is renamed
    ``<name>.corrupt`` with a one-line warning, and the previous checkpoint is tried.
    """
    for _, path in reversed(checkpoint_files(run_dir)):
        try:
            damage = zip_damage(path)  # damaged bytes that torch.load would read as other weights
            if damage:
                raise ValueError(damage)
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(obj, Mapping):
                raise ValueError("not a checkpoint dict")
            missing = sorted(set(to_load) - set(obj))
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
        except Exception as err:  # noqa: BLE001 - any unreadable file falls back to the previous one
            bad = path.with_name(path.name + ".corrupt")
            os.replace(path, bad)
            msg = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            log(f"warning: checkpoint {path} is unreadable ({msg}); moved to {bad.name}, trying the previous one")
            continue
        Checkpoint.load_objects(to_load=dict(to_load), checkpoint=obj)
        return path
    return None


def load_weights(path: Path, what: str) -> dict[str, Any]:
    """The state dict saved in ``path`` (``what`` names it in messages); a missing or damaged file is a
    one-line VfpError (a damaged one is renamed ``<name>.corrupt`` first)."""
    path = Path(path)
    damage = "missing" if not path.is_file() else zip_damage(path)
    if damage is None:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported the same way
            damage = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
    if path.is_file():
        os.replace(path, path.with_name(path.name + ".corrupt"))
    raise VfpError(f"{what} {path} is {damage if damage == 'missing' else 'damaged (' + damage + ')'}"
                   f"{'; moved to ' + path.name + '.corrupt' if damage != 'missing' else ''}: the run cannot "
                   f"export it; train again from the start (train.resume: never once, or remove {path.parent})")


def resume_run(run_dir: Path, params: Mapping[str, Any], to_load: Mapping[str, Any], *, resume: bool,
               log: Callable[[str], None] = print) -> str:
    """Prepare ``run_dir`` for ``params`` (:func:`prepare_run_dir`, rank 0) and load its latest checkpoint
    of the same params into ``to_load`` on every process (rank 0 reads it and sends it to the others);
    return that checkpoint's path or ''."""
    rank, world = idist.get_rank(), idist.get_world_size()
    resumed_from = ""
    if rank == 0:
        can_resume = prepare_run_dir(run_dir, params, resume=resume, log=log)
        path = load_latest(run_dir, to_load, log=log) if can_resume else None
        resumed_from = str(path) if path else ""
    if world > 1:  # the other ranks get rank 0's checkpoint: no other node needs the run folder
        resumed_from = idist.broadcast(resumed_from if rank == 0 else "", src=0, safe_mode=True)
        if resumed_from:
            state = share_from_rank0(torch.load(resumed_from, map_location="cpu", weights_only=True)
                                     if rank == 0 else None)
            if rank != 0:
                Checkpoint.load_objects(to_load, state)
    return resumed_from


# ---------------------------------------------------------------- handler

class AtomicSaver(BaseSaveHandler):
    """Ignite save handler writing through :func:`vfp.fileio.atomic_save` (fsync + rename), rank 0 only."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        if idist.get_rank() == 0:
            atomic_save(self.folder / filename, checkpoint)

    def remove(self, filename: str) -> None:
        if idist.get_rank() == 0:
            (self.folder / filename).unlink(missing_ok=True)


class CheckpointHandler:
    """Saves ``to_save`` every epoch (last ``n_saved`` kept); the exported epoch's weights are kept by
    handlers.selection.

    ``attach(trainer)``: checkpoints at the trainer's EPOCH_COMPLETED. ``save_now(trainer)`` saves at once (SIGINT).
    Every save is skipped, with a warning, after ``nan_loss()`` named a loss (the NaN guard fired) or
    while a parameter is not finite: a good checkpoint is never replaced by a broken one.
    """

    def __init__(self, run_dir: str | Path, to_save: Mapping[str, Any], *, n_saved: int = 2,
                 log: Callable[[str], None] = print, nan_loss: Callable[[], str | None] = lambda: None):
        if n_saved < 1:
            raise ValueError(f"n_saved must be >= 1, got {n_saved}")
        if "model" not in to_save or "trainer" not in to_save:
            raise ValueError("to_save needs at least 'model' and 'trainer'")
        self.run_dir = Path(run_dir)
        self.to_save = dict(to_save)
        self.log, self.nan_loss = log, nan_loss
        self.saver = AtomicSaver(self.run_dir)
        self.checkpoint = Checkpoint(
            self.to_save, self.saver, n_saved=n_saved, filename_pattern=CHECKPOINT_PATTERN,
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        # continue the rotation of files already in the folder (after a resume)
        self.checkpoint.load_state_dict({"_saved": [(s, p.name) for s, p in checkpoint_files(self.run_dir)]})

    def attach(self, trainer: Engine) -> None:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self)

    def ok_to_save(self, trainer: Engine) -> bool:
        """False (with a warning) after the NaN guard fired or while a weight is not finite."""
        nan_key = self.nan_loss()
        if nan_key is not None or not params_finite(self.to_save):
            self.log(f"warning: not saving a checkpoint at iteration {trainer.state.iteration}: "
                     f"{'loss ' + nan_key if nan_key else 'weights'} not finite")
            return False
        return True

    def __call__(self, trainer: Engine) -> None:
        if self.ok_to_save(trainer):
            self.checkpoint(trainer)

    def save_now(self, trainer: Engine) -> Path | None:
        """Save unless a checkpoint of this very iteration exists; return the latest path."""
        saved = {it for it, _ in checkpoint_files(self.run_dir)}
        if trainer.state.iteration not in saved and self.ok_to_save(trainer):
            self.checkpoint(trainer)
        return self.last_checkpoint

    @property
    def last_checkpoint(self) -> Path | None:
        last = self.checkpoint.last_checkpoint  # a bare file name with a non-DiskSaver handler
        return self.run_dir / Path(last).name if last is not None else None
