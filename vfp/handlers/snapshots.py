"""GIF snapshots of predictions on fixed validation clips during training."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from ignite.engine import Engine, Events
from torch import nn

from vfp.engines.common import unwrap
from vfp.fileio import atomic_copy
from vfp.gif import write_gif_pair
from vfp.models.contract import predict_any_size


class Snapshots:
    """Every ``every`` epochs, predict ``horizon`` frames for fixed clips and write GIF pairs.

    ``clips``: items of the validation dataset (``{"frames": [T, C, H, W], "video": str}``,
    deterministic starts), each with at least ``n_input + horizon`` frames. Files:
    ``<run>/snapshots/epoch_{E:03d}/<video>_{expected,generated}_large.gif`` (context + future,
    ``n_input + horizon`` frames each) and the same names in ``<run>/snapshots/latest/``.
    Inference runs on ``device``; frames move to the CPU only for encoding.
    """

    def __init__(self, model: nn.Module, clips: Sequence[dict], out_dir: str | Path, *,
                 n_input: int, horizon: int, every: int = 1, device: str | torch.device = "cpu"):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        for clip in clips:
            if clip["frames"].shape[0] < n_input + horizon:
                raise ValueError(f"snapshot clip {clip['video']} has {clip['frames'].shape[0]} frames, "
                                 f"needs n_input + horizon = {n_input + horizon}")
        self.model, self.clips, self.dir = model, list(clips), Path(out_dir)
        self.n_input, self.horizon, self.every, self.device = n_input, horizon, every, torch.device(device)

    def attach(self, trainer: Engine) -> None:
        if self.clips:
            trainer.add_event_handler(Events.EPOCH_COMPLETED(every=self.every), self)

    @torch.no_grad()
    def __call__(self, trainer: Engine) -> list[Path]:
        model = unwrap(self.model)
        was_training = model.training
        model.eval()
        epoch_dir = self.dir / f"epoch_{trainer.state.epoch:03d}"
        latest = self.dir / "latest"
        latest.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        try:
            for clip in self.clips:
                frames = clip["frames"][: self.n_input + self.horizon]
                context, target = frames[: self.n_input], frames[self.n_input:]
                pred = predict_any_size(model, context[None].to(self.device).float(), self.horizon)[0]
                pair = write_gif_pair(context, pred.float().cpu(), target, epoch_dir, str(clip["video"]))
                for path in pair:
                    atomic_copy(path, latest / path.name)
                written.extend(pair)
        finally:
            model.train(was_training)
        return written
