"""Pieces shared by the trainers and the evaluators: device, AMP, batch preparation, crops.

Step outputs are dicts of python floats; their keys are listed in :class:`Keys`.
"""
from __future__ import annotations

import contextlib
import enum
from typing import Any, Mapping

import torch
from torch import nn

from vfp.errors import VfpError

AMP_MODES = ("none", "bf16", "fp16")


class Keys(str, enum.Enum):
    """Scalar names in the trainers' step output (per-scale keys ``lp_s{k}`` etc. are added by the GAN)."""

    LOSS = "loss"  # supervised total
    LOSS_G = "loss_g"
    LOSS_D = "loss_d"
    D_REAL = "d_real"  # mean sigmoid(D(real))
    D_FAKE = "d_fake"  # mean sigmoid(D(fake))


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU is a VfpError."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VfpError("train.device is cuda but no CUDA GPU is available; use device: auto or cpu")
    return torch.device(name)


def effective_amp(amp: str, device: torch.device) -> str:
    """The AMP mode used on ``device``; fp16 needs CUDA: elsewhere a one-line VfpError (never ignored)."""
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES}, got {amp!r}")
    if amp == "fp16" and device.type != "cuda":
        raise VfpError(f"train.amp fp16 needs a CUDA GPU, and training runs on {device.type}; set train.amp: bf16 "
                       "(mixed precision on CPU) or none")
    return amp


def autocast(amp: str, device: torch.device):
    """Context manager for the forward pass (a no-op for ``none``)."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 on CUDA, else None."""
    if amp == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    params,
    grad_clip: float,
    scaler: torch.amp.GradScaler | None,
) -> None:
    """backward, optional grad-norm clip (after unscaling), step."""
    params = [p for p in params if p.requires_grad]
    if scaler is not None:
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()


def prepare_frames(
    batch: Mapping[str, Any] | torch.Tensor,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> torch.Tensor:
    """Batch dict (``frames [B, T, C, H, W]``) -> frames on ``device`` (non-blocking copy)."""
    frames = batch["frames"] if isinstance(batch, Mapping) else batch
    if frames.dim() != 5:
        raise ValueError(f"frames must be [B, T, C, H, W], got {tuple(frames.shape)}")
    frames = frames.to(device, non_blocking=device.type == "cuda").float()
    if channels_last and device.type == "cuda":
        # channels_last_3d on [B, T, C, H, W] keeps C innermost for every frame slice
        frames = frames.contiguous(memory_format=torch.channels_last_3d)
    return frames


def random_crop(frames: torch.Tensor, crop: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random ``crop x crop`` window of ``frames [B, T, C, H, W]``; one window per clip, all its frames.

    ``crop == 0`` returns the frames unchanged. Offsets come from the (CPU) torch RNG,
    which the checkpoint saves, so resumed runs draw the same crops.
    """
    if crop <= 0:
        return frames
    b, _, _, h, w = frames.shape
    if crop > h or crop > w:
        raise ValueError(f"crop {crop} larger than frames {h}x{w}")
    ys = torch.randint(0, h - crop + 1, (b,), generator=generator).tolist()
    xs = torch.randint(0, w - crop + 1, (b,), generator=generator).tolist()
    return torch.stack([f[..., y : y + crop, x : x + crop] for f, y, x in zip(frames, ys, xs)])


def split_clip(frames: torch.Tensor, n_input: int, n_output: int) -> tuple[torch.Tensor, torch.Tensor]:
    """frames [B, T, ...] -> (context = first n_input frames, target = next n_output frames)."""
    if frames.shape[1] < n_input + n_output:
        raise ValueError(
            f"clips have {frames.shape[1]} frames, need n_input + n_output = {n_input + n_output}"
        )
    return frames[:, :n_input], frames[:, n_input : n_input + n_output]


def maybe_compile(model: nn.Module, enabled: bool, device: torch.device) -> nn.Module:
    """torch.compile on CUDA when asked (ignored on CPU: slow to compile, little gain)."""
    if enabled and device.type == "cuda":
        return torch.compile(model)
    return model


def setup_backends(device: torch.device) -> None:
    """cudnn.benchmark on CUDA (fixed input sizes); nothing on CPU."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
