"""Motion filter: drop low-motion classes by the mean L2 distance between consecutive frames.

Per video: ``frames`` pairs of consecutive frames sampled evenly, decoded at ``size`` x ``size``,
converted to grey levels (0-255); the score is the mean over pairs of the RMS difference
``||f_{i+1} - f_i||_2 / sqrt(n_pixels)``. Per class: the mean over its videos. Classes below the
threshold (absolute, or the lowest ``threshold`` fraction in quantile mode) are dropped.
Unreadable videos are skipped with one warning line each and listed with their reason.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vfp.data.video import VideoReadError, list_videos, probe, read_frames
from vfp.errors import VfpError
from vfp.fileio import atomic_write_text, warn

GREY = np.array([0.299, 0.587, 0.114])


def video_motion(path: Path, n_frames: int, *, pairs: int, size: int, decoder: str = "auto") -> float:
    """Mean RMS grey-level difference between consecutive frames of one video."""
    starts = np.unique(np.linspace(0, n_frames - 2, num=min(pairs, n_frames - 1)).round().astype(int))
    indices = np.unique(np.concatenate([starts, starts + 1]))
    frames = read_frames(path, indices, (size, size), decoder).astype(np.float64) @ GREY
    position = {int(i): k for k, i in enumerate(indices)}
    diffs = [frames[position[s + 1]] - frames[position[s]] for s in starts]
    return float(np.mean([np.sqrt(np.mean(d * d)) for d in diffs]))


def select_classes(class_scores: dict[str, float], mode: str, threshold: float) -> tuple[list[str], list[str]]:
    """(kept, dropped) class names for an absolute threshold or a quantile of the class scores."""
    if mode == "quantile":
        cut = float(np.quantile(list(class_scores.values()), threshold)) if threshold > 0 else -np.inf
        dropped = sorted(c for c, s in class_scores.items() if s < cut)
    else:
        dropped = sorted(c for c, s in class_scores.items() if s < threshold)
    kept = sorted(c for c in class_scores if c not in dropped)
    return kept, dropped


def motion_filter(root: Path, out_path: Path, *, size: int, frames: int, mode: str, threshold: float,
                  decoder: str = "auto") -> dict:
    """Score every video under ``root`` (read by ``decoder``), write ``out_path`` (JSON) and return its content."""
    videos: dict[str, dict] = {}
    skipped: list[dict] = []
    for path in list_videos(root, skipped):  # dangling links and unlistable names: warned, counted
        rel = path.relative_to(root).as_posix()
        try:
            n = probe(path, decoder)
            if n < 2:
                raise VideoReadError("fewer than 2 frames")
            videos[rel] = {"n_frames": n, "score": round(video_motion(path, n, pairs=frames, size=size, decoder=decoder), 4)}
        except VideoReadError as err:
            warn(f"skipping {path}: {err}")
            skipped.append({"file": rel, "reason": str(err)})
    if not videos:
        raise VfpError(f"{root}: no readable videos ({len(skipped)} skipped); check data.source / data.folder")
    per_class: dict[str, list[float]] = {}
    for rel, info in videos.items():
        per_class.setdefault(rel.split("/", 1)[0], []).append(info["score"])
    class_scores = {c: round(float(np.mean(s)), 4) for c, s in sorted(per_class.items())}
    kept, dropped = select_classes(class_scores, mode, threshold)
    if not kept:
        raise VfpError(f"motion filter dropped every class (threshold {threshold}, mode {mode}); lower motion.threshold")
    result = {
        "mode": mode, "threshold": threshold,
        "classes": class_scores, "kept": kept, "dropped": dropped,
        "videos": videos, "skipped": skipped, "n_skipped": len(skipped),
    }
    atomic_write_text(out_path, json.dumps(result, indent=1, sort_keys=True) + "\n")
    return result
