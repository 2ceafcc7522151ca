"""Loader benchmark: clips/s through the training DataLoader vs the models' training step rate.

    python benchmarks/loader.py [--quick] [--out DIR] [--params params.yaml] [--data DIR]

Measures, on this machine and in this run:

* loader rate: training clips (``n_input + n_output`` frames, every ``data.interval``, at
  ``data.size``) per second through ``torch.utils.data.DataLoader`` (batch ``train.batch_size``),
  decoding the AVI files each time ("cold") and reading the decoded-frame cache (``vfp.data.cache``),
  with ``num_workers`` 0, 1 and 2. The time runs from creating the iterator (worker start-up
  included, as the trainer pays it every epoch: ``persistent_workers=False``) to the last batch.
* reference: each model's training step rate (clips/s = batch / step time) with the Ignite
  engine's own step function called in a loop on in-memory batches (see ``step.py``);
  multiscale_gan is measured in its full GAN phase (D then G).

Target: the cached loader (best ``num_workers``) >= 5x the fastest model's step rate, so the
loader never starves training. Writes ``benchmarks/results/loader.json``.

This file also holds the data setup the other benchmarks share (:func:`prepare_data`,
:func:`write_results`, :func:`table`): ``data/split`` of the project when it exists, else the
sample generated once from ``params.yaml`` into a temp folder (reused by later runs).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import bench_config  # noqa: E402

# ---------------------------------------------------------------- shared helpers

QUICK_SAMPLE = dict(moving_classes=2, static_classes=1, groups=6, clips_per_group=1, frames=24)


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few iterations (< 60 s), for tests")
    parser.add_argument("--out", default=str(RESULTS), help="folder for <name>.json (default benchmarks/results)")
    parser.add_argument("--params", default=str(REPO / "params.yaml"), help="params file (default params.yaml)")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size (default: params.yaml's; --quick: 4)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads (default 0: torch's default, one per core)")
    parser.add_argument("--data", default=None,
                        help="folder for the generated sample when data/split is missing "
                             "(default: a temp folder keyed by the sample params, reused)")
    return parser


def load_cfg(path: str | Path):
    return bench_config(path)


def prepare_data(cfg, *, quick: bool = False, data_dir: str | Path | None = None, log=print) -> dict:
    """Split lists to benchmark on: ``{"split_dir", "cache_dir", "source"}``.

    Uses the project's ``data/split`` (and ``data.cache``) when the split exists and ``quick`` is
    off; otherwise generates the sample (``cfg.sample``; a smaller one with ``quick``) with
    ``generate_sample`` into ``data_dir``, then runs the motion filter and ``make_splits`` the way
    the stages do. Generated data is reused when already there.
    """
    from vfp.data.motion import motion_filter
    from vfp.data.sample import generate_sample
    from vfp.data.splits import make_splits

    project_split = REPO / "data" / "split"
    if not quick and data_dir is None and (project_split / "train.txt").is_file():
        # a cache of our own: never write into the project's data/cache while others train
        cache = Path(tempfile.gettempdir()) / "vfp-bench-project-cache"
        return {"split_dir": project_split, "cache_dir": cache, "source": "project data/split"}
    sample = dict(_asdict(cfg.sample))
    if quick:
        sample.update(QUICK_SAMPLE)
    key = hashlib.sha1(json.dumps(sample, sort_keys=True).encode()).hexdigest()[:10]
    base = Path(data_dir) if data_dir else Path(tempfile.gettempdir()) / f"vfp-benchdata-{key}"
    root, motion, split = base / "raw", base / "motion.json", base / "split"
    if not (root / "splits").is_dir():
        t0 = time.perf_counter()
        log(f"generating the sample {sample} into {root} ...")
        base.mkdir(parents=True, exist_ok=True)
        generate_sample(root, **sample)
        log(f"  done in {time.perf_counter() - t0:.0f} s")
    if not (split / "train.txt").is_file():
        m = cfg.motion
        motion_filter(root, motion, size=m.size, frames=m.frames, mode=m.mode, threshold=m.threshold)
        make_splits(root, motion, split, official=cfg.split.official, val_fraction=cfg.split.val_fraction,
                    seed=cfg.seed)
    return {"split_dir": split, "cache_dir": base / "cache", "source": f"generated sample {sample} in {base}"}


def _asdict(obj) -> dict:
    import dataclasses

    return dataclasses.asdict(obj)


def set_threads(args) -> None:
    import torch

    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)


def batch_size(args, default: int) -> int:
    if args.batch is not None:
        return args.batch
    return 4 if args.quick else default


def machine() -> dict:
    import torch

    info = {"load_average_1_5_15": list(os.getloadavg()), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def finite_positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def write_results(name: str, out_dir: str | Path, payload: dict, script: str | None = None) -> Path:
    """``<out_dir>/<name>.json`` with the run's date, machine and command line added."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    script = script or name
    data = {"benchmark": script,
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(["python", f"benchmarks/{script}.py", *sys.argv[1:]]),
            "machine": machine(), **payload}
    path = out / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table; ``columns`` = (key, header, format spec)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        line = []
        for key, _, fmt in columns:
            v = row.get(key)
            line.append("-" if v is None else (format(v, fmt) if fmt and not isinstance(v, str) else str(v)))
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = []
    for j, r in enumerate(cells):
        out.append("  ".join(c.rjust(w) if j and i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def load_batches(dataset, batch_size: int, n_batches: int) -> list[dict]:
    """The first ``n_batches`` batches of ``dataset`` in memory (cycled when the data is short)."""
    from torch.utils.data import DataLoader

    batches: list[dict] = []
    while len(batches) < n_batches:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0, drop_last=True):
            batches.append({"frames": batch["frames"].contiguous()})
            if len(batches) >= n_batches:
                break
        if not batches:
            raise RuntimeError(f"dataset of {len(dataset)} clips has no full batch of {batch_size}")
    return batches


# ---------------------------------------------------------------- the loader benchmark

def loader_rate(dataset, batch_size: int, num_workers: int, max_batches: int) -> dict:
    """Clips/s through a DataLoader as the trainer builds it (EpochSampler, no persistent workers)."""
    import torch
    from torch.utils.data import DataLoader

    from vfp.data.loaders import EpochSampler

    sampler = EpochSampler(len(dataset), seed=0, shuffle=True)
    sampler.set_epoch(1)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        drop_last=False, generator=torch.Generator().manual_seed(0), persistent_workers=False)
    clips = 0
    first = None
    t0 = time.perf_counter()
    for i, batch in enumerate(loader):
        clips += batch["frames"].shape[0]
        if first is None:
            first = time.perf_counter() - t0
        if i + 1 >= max_batches:
            break
    elapsed = time.perf_counter() - t0
    return {"clips": clips, "seconds": elapsed, "clips_per_s": clips / elapsed, "first_batch_s": first}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    set_threads(args)
    import step as step_bench
    import torch

    from vfp.data.cache import build_cache
    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split
    from vfp.models.registry import build_model

    cfg = load_cfg(args.params)
    data = prepare_data(cfg, quick=args.quick, data_dir=args.data)
    videos = read_split(data["split_dir"], "train")
    batch = batch_size(args, cfg.train.batch_size)
    size = tuple(cfg.data.size)
    # the longest training clip of the models (seq2seq: 4 in + 4 out)
    n_frames = max(build_model(m, **dict(cfg.model_section(m).net)).n_input + cfg.model_section(m).n_output
                   for m in step_bench.MODELS)
    max_batches = 3 if args.quick else 20
    print(f"data: {data['source']}; {len(videos)} training videos, clips of {n_frames} frames every "
          f"{cfg.data.interval} at {size[0]}x{size[1]}, batch {batch}, torch threads {torch.get_num_threads()}")

    t0 = time.perf_counter()
    built = build_cache(videos, data["cache_dir"], size, workers=2)
    cache_build_s = time.perf_counter() - t0
    print(f"frame cache: {built['decoded']} videos decoded now, {built['already']} already there "
          f"({cache_build_s:.1f} s)")

    clips_per_video = max(1, math.ceil(batch * max_batches / max(1, len(videos))))
    rows = []
    for mode in ("cold", "cached"):
        ds = ClipDataset(videos, n_frames, cfg.data.interval, size, random_start=True,
                         clips_per_video=clips_per_video, seed=cfg.seed,
                         cache_dir=data["cache_dir"] if mode == "cached" else None)
        workers_list = (0, 2) if args.quick else (0, 1, 2)
        for workers in workers_list:
            ds.set_epoch(1 + workers)  # other random starts than the previous run
            r = loader_rate(ds, batch, workers, max_batches)
            rows.append({"loader": mode, "num_workers": workers, **r})
            print(f"  {mode:6s} num_workers={workers}: {r['clips_per_s']:.1f} clips/s "
                  f"(first batch after {r['first_batch_s']:.2f} s)")

    # reference: the step rate of each model on in-memory batches of the same data
    ds = ClipDataset(videos, n_frames, cfg.data.interval, size, random_start=True, clips_per_video=clips_per_video,
                     seed=cfg.seed, cache_dir=data["cache_dir"])
    n_iter = 2 if args.quick else 8
    batches = load_batches(ds, batch, 2)
    models = []
    for name in step_bench.MODELS:
        bench = step_bench.build_trainer(cfg, name, device="cpu")
        r = step_bench.time_bare_loop(bench, batches, n_iter, warmup=1)
        models.append({"model": name, "step_s": r["step_s"], "clips_per_s": batch / r["step_s"]})
        print(f"  {name}: step {r['step_s'] * 1000:.0f} ms -> {batch / r['step_s']:.1f} clips/s")

    fastest = max(models, key=lambda m: m["clips_per_s"])
    best_cached = max((r for r in rows if r["loader"] == "cached"), key=lambda r: r["clips_per_s"])
    best_cold = max((r for r in rows if r["loader"] == "cold"), key=lambda r: r["clips_per_s"])
    for r in rows:
        r["ratio_to_fastest_model"] = r["clips_per_s"] / fastest["clips_per_s"]
    for m in models:
        m["cached_loader_ratio"] = best_cached["clips_per_s"] / m["clips_per_s"]
        m["cold_loader_ratio"] = best_cold["clips_per_s"] / m["clips_per_s"]
    ratio = best_cached["clips_per_s"] / fastest["clips_per_s"]
    target = 5.0
    print()
    print(table(rows, [("loader", "loader", ""), ("num_workers", "workers", "d"), ("clips_per_s", "clips/s", ".1f"),
                       ("first_batch_s", "first batch s", ".2f"),
                       ("ratio_to_fastest_model", f"x {fastest['model']} step rate", ".2f")]))
    print()
    print(table(models, [("model", "model (train step)", ""), ("step_s", "step s", ".3f"),
                         ("clips_per_s", "clips/s", ".1f"), ("cached_loader_ratio", "best cached loader / model", ".2f"),
                         ("cold_loader_ratio", "best cold loader / model", ".2f")]))
    met = ratio >= target
    print(f"\ncached loader (num_workers={best_cached['num_workers']}) {best_cached['clips_per_s']:.1f} clips/s = "
          f"{ratio:.2f}x the fastest model ({fastest['model']}, {fastest['clips_per_s']:.1f} clips/s); "
          f"target >= {target:g}x: {'MET' if met else 'NOT MET'}")
    path = write_results("loader", args.out, {
        "quick": args.quick, "data": data["source"], "batch_size": batch, "clip_frames": n_frames,
        "interval": cfg.data.interval, "size": list(size), "train_videos": len(videos),
        "batches_per_run": max_batches, "cache_build_s": cache_build_s,
        "loaders": rows, "models": models, "fastest_model": fastest["model"],
        "best_cached": {"num_workers": best_cached["num_workers"], "clips_per_s": best_cached["clips_per_s"]},
        "best_cold": {"num_workers": best_cold["num_workers"], "clips_per_s": best_cold["clips_per_s"]},
        "ratio": ratio, "cold_ratio": best_cold["clips_per_s"] / fastest["clips_per_s"],
        "target": target, "target_met": met,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
