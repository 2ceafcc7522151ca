"""Write expected/generated GIF pairs for a predicted clip.

Each GIF shows the context frames followed by the future frames (true future
for ``<stem>_expected_large.gif``, predicted future for
``<stem>_generated_large.gif``), every frame upscaled ``scale`` times by
nearest neighbour, looping forever. Encoding uses imageio v3 with the Pillow
GIF writer; files are written atomically (:mod:`vfp.fileio`).

A pair also gets a timeline bar under the frames (grey while showing context frames,
green/red for true/predicted future frames, growing with the frame index). It tells a viewer
where prediction starts and keeps consecutive frames distinct: Pillow merges identical
consecutive frames, which would otherwise drop frames of a static (copy-last) prediction.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

from vfp.fileio import atomic_write_bytes
from vfp.frames import to_uint8
from vfp.runs import gif_pair_paths

__all__ = ["write_gif_pair", "write_gif", "gif_frame_count"]


def _to_frames(x: torch.Tensor, scale: int) -> np.ndarray:
    """``[N, C, H, W]`` in [-1, 1] -> uint8 array ``[N, H*s, W*s]`` (C=1) or ``[N, H*s, W*s, 3]`` (C=3)."""
    if x.dim() != 4:
        raise ValueError(f"expected frames [N, C, H, W], got shape {tuple(x.shape)}")
    c = x.shape[1]
    if c not in (1, 3):
        raise ValueError(f"GIF frames need 1 or 3 channels, got {c}")
    u = to_uint8(x.detach()).cpu()
    if scale != 1:
        u = u.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    arr = u.permute(0, 2, 3, 1).numpy()
    if c == 1:
        arr = arr[..., 0]
    return np.ascontiguousarray(arr)


TIMELINE_HEIGHT = 4
CONTEXT_COLOUR, EXPECTED_COLOUR, GENERATED_COLOUR = (160, 160, 160), (40, 200, 60), (230, 50, 40)


def _with_timeline(arr: np.ndarray, n_context: int, colour: tuple[int, int, int]) -> np.ndarray:
    """Append a bar under each frame: filled to (i+1)/N, grey for context frames, ``colour`` after."""
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    n, _, width, _ = arr.shape
    bar = np.zeros((n, TIMELINE_HEIGHT, width, 3), dtype=np.uint8)
    for i in range(n):
        bar[i, :, : max(1, round(width * (i + 1) / n))] = CONTEXT_COLOUR if i < n_context else colour
    return np.concatenate([arr, bar], axis=1)


def write_gif(frames: torch.Tensor, path: str | os.PathLike, scale: int = 4, fps: float = 4,
              timeline: tuple[int, tuple[int, int, int]] | None = None) -> Path:
    """Write frames ``[N, C, H, W]`` in [-1, 1] to a looping GIF at ``path`` atomically.

    ``timeline=(n_context, colour)`` adds the timeline bar (see the module docstring).
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = _to_frames(frames, scale)
    if timeline is not None:
        arr = _with_timeline(arr, *timeline)
    data = iio.imwrite("<bytes>", arr, extension=".gif", plugin="pillow", is_batch=True,
                       duration=int(round(1000.0 / fps)), loop=0)
    atomic_write_bytes(path, data)
    return path


def short_stem(stem: str, limit: int = 160) -> str:
    """``stem`` when its UTF-8 form fits in ``limit`` bytes, else its start plus a hash of the whole: file
    names stay under the 255 bytes file systems allow, whatever the video's name."""
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= limit:
        return stem
    digest = hashlib.sha1(raw).hexdigest()[:10]
    return raw[: limit - 11].decode("utf-8", "ignore") + "-" + digest


def write_gif_pair(
    context: torch.Tensor,
    pred: torch.Tensor,
    target: torch.Tensor,
    out_dir: str | os.PathLike,
    stem: str,
    scale: int = 4,
    fps: float = 4,
) -> tuple[Path, Path]:
    """Write ``<stem>_expected_large.gif`` and ``<stem>_generated_large.gif`` in ``out_dir`` (a long stem
    shortened by :func:`short_stem`).

    Args:
        context: ``[n_in, C, H, W]`` context frames in [-1, 1] (any device).
        pred, target: ``[T, C, H, W]`` predicted / true future frames in [-1, 1].
        scale: nearest-neighbour upscale factor. fps: frames per second.

    Returns:
        ``(expected_path, generated_path)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if context.dim() != 4 or context.shape[1:] != target.shape[1:]:
        raise ValueError(f"context {tuple(context.shape)} does not match frames {tuple(target.shape)}")
    if not stem or "/" in stem or os.sep in stem:
        raise ValueError(f"invalid GIF stem {stem!r}")
    stem = short_stem(stem)
    ctx = context.detach().cpu()
    n_ctx = ctx.shape[0]
    expected_path, generated_path = gif_pair_paths(Path(out_dir), stem)
    expected = write_gif(torch.cat([ctx, target.detach().cpu()]), expected_path, scale, fps,
                         timeline=(n_ctx, EXPECTED_COLOUR))
    generated = write_gif(torch.cat([ctx, pred.detach().cpu()]), generated_path, scale, fps,
                          timeline=(n_ctx, GENERATED_COLOUR))
    return expected, generated


def gif_scale(size: tuple[int, int], target: int = 256) -> int:
    """Nearest-neighbour upscale so that the longer side of a GIF is about ``target`` pixels."""
    return max(1, target // max(size))


def gif_frame_count(path: str | os.PathLike) -> int:
    """Number of frames stored in a GIF file."""
    return int(iio.improps(path, plugin="pillow", index=None).shape[0])
