"""Shared helpers for the benchmark scripts: the videos to run on, timing, a small table, JSON results."""
from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))  # run as `python benchmarks/x.py` from anywhere

# a moderate generated sample when data/raw is missing: 4 moving classes x 6 groups x 2 clips x 48 frames
BENCH_SAMPLE = dict(seed=0, moving_classes=4, static_classes=0, groups=6, clips_per_group=2, frames=48)


def sample_videos(root: Path | None = None) -> tuple[list[Path], str]:
    """Videos of ``data/raw`` (if present) or of a sample generated into a temp dir; and a description."""
    from vfp.data.sample import generate_sample
    from vfp.data.video import list_videos

    root = root or REPO / "data" / "raw"
    if root.is_dir() and list_videos(root):
        return list_videos(root), f"{root} ({len(list_videos(root))} videos)"
    base = Path(tempfile.mkdtemp(prefix="vfp-bench-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    tmp = base / "raw"
    generate_sample(tmp, **BENCH_SAMPLE)
    videos = list_videos(tmp)
    return videos, f"generated sample {BENCH_SAMPLE} in {tmp} ({len(videos)} videos, 320x240 xvid)"


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform()}


def table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def bench_config(path: str | Path):
    """The params at ``path`` as the benchmarks time them: with ``data.size: source`` the frames are resized
    to the ``train.crop`` windows the model trains on (each benchmark prints the size it used)."""
    from dataclasses import replace

    from vfp.models.params import load_model_config

    cfg = load_model_config(path)
    if cfg.data.size != "source":
        return cfg
    crop = int(cfg.train.crop)
    return replace(cfg, data=replace(cfg.data, size=(crop, crop)), train=replace(cfg.train, crop=0))
