"""GPU at UCF-101 scale: a UCF-sized folder through the real data path, each model at the study's sizes.

    python benchmarks/gpu_scale.py --videos 1000 --frames 150 --workers 16 --amp bf16 --out DIR

1. generate ``--videos`` 320x240 xvid AVIs of ``--frames`` frames (the sample's renderer, all classes);
2. fill the frame cache at ``data.size`` with ``--workers`` processes (and with 1, on a subset: the ratio);
3. per model, built as training builds it (``benchmarks/step.py``'s ``build_trainer``) with the study's
   sizes (``presets/study2017.yaml``; the GAN on 32x32 crops as published): the trainer's step on batches
   already on the GPU (reference), the ``DataLoader`` alone (pinned, persistent workers), and the two
   together as in training; busy fraction = reference step time x steps / fed wall time; GPU kernel
   busy = kernel time per step (torch.profiler) / fed step time; peak memory;
   projected UCF-101 epoch (9,537 split-1 training videos, one clip each) from the fed rate.
Writes ``<out>/gpu_scale.json``. Needs CUDA, decord or PyAV, pytorch-ignite; writes AVIs with
imageio-ffmpeg, else OpenCV.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step import build_trainer  # noqa: E402

from vfp.data.cache import build_cache  # noqa: E402
from vfp.data.clips import ClipDataset  # noqa: E402
from vfp.data.sample import FPS, MOVING, render_clip  # noqa: E402
from vfp.data.video import VideoEntry, probe  # noqa: E402
from vfp.models.params import parse_model_config  # noqa: E402

UCF101_TRAIN_VIDEOS = 9537  # split 1


def write_video(job: tuple[Path, int, int]) -> str:
    path, index, n_frames = job
    if path.is_file():  # a second run reuses the folder
        return str(path)
    spec = MOVING[index % len(MOVING)]
    frames = render_clip(spec, scene_seed=index // len(MOVING), clip=1, n_frames=n_frames)
    try:
        from vfp.data.sample import write_avi
        write_avi(path, frames)
    except ImportError:  # no imageio-ffmpeg: OpenCV's FFmpeg writes xvid too
        import cv2
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), FPS, frames.shape[2:0:-1])
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
        writer.release()
    return str(path)


def study_cfg(params: Path, preset: Path, model: str, amp: str, device: str):
    raw = yaml.safe_load(params.read_text())
    for key, value in yaml.safe_load(preset.read_text()).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    raw["data"] = {**raw["data"], "source": "sample", "interval": 2}
    raw.update(model=model)
    raw["train"] = {**raw["train"], "device": device, "amp": amp}
    scales = (raw.get(model) or {}).get("net", {}).get("scales")
    if scales:  # a multi-scale net trains at its finest scale (the published GAN: 32x32 crops)
        raw["data"]["size"] = [max(scales)] * 2
    return parse_model_config(raw)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_steps(trainer, batches, n: int) -> float:
    sync()
    start = time.perf_counter()
    for k in range(n):
        trainer._process_function(trainer, batches[k % len(batches)])
    sync()
    return (time.perf_counter() - start) / n


def kernel_seconds(trainer, batches, n: int) -> float:
    """GPU kernel time per step (torch.profiler, CUDA activity): what the GPU itself was busy with."""
    from torch.profiler import ProfilerActivity, profile

    if not torch.cuda.is_available():
        return float("nan")
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        timed_steps(trainer, batches, n)
    events = prof.key_averages()
    total_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) for e in events)
    return total_us / 1e6 / n


def measure_model(name: str, args, entries: list, cache: Path) -> dict:
    cfg = study_cfg(Path(args.params), Path(args.preset), name, args.amp, args.device)
    bench = build_trainer(cfg, name, device=args.device, amp=args.amp, channels_last=args.channels_last)
    size = tuple(cfg.data.size)
    per_video = max(4, -(-(2 * args.steps + 8) * args.batch // len(entries)))  # enough batches for every phase
    dataset = ClipDataset(entries, bench.n_frames, cfg.data.interval, (args.size, args.size), random_start=True,
                          clips_per_video=per_video, cache_dir=cache)
    crop = (lambda f: f[..., : size[0], : size[1]]) if size[0] < args.size else (lambda f: f)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True,
                                         num_workers=args.loader_workers, pin_memory=True,
                                         persistent_workers=True, prefetch_factor=4)
    it = iter(loader)
    on_gpu = [{"frames": crop(next(it)["frames"]).to(bench.device)} for _ in range(4)]
    cuda = bench.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timed_steps(bench.trainer, on_gpu, 5)  # warm-up
    ref_step = timed_steps(bench.trainer, on_gpu, args.steps)
    kernel_s = kernel_seconds(bench.trainer, on_gpu, 10)
    start = time.perf_counter()
    for _ in range(args.steps):
        next(it)
    loader_s = (time.perf_counter() - start) / args.steps
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        batch = next(it)
        bench.trainer._process_function(bench.trainer, {"frames": crop(batch["frames"])})
    sync()
    fed_step = (time.perf_counter() - start) / args.steps
    return {"params": sum(p.numel() for p in bench.model.parameters()), "size": list(size),
            "ref_step_s": ref_step, "gpu_clips_per_s": args.batch / ref_step,
            "loader_clips_per_s": args.batch / loader_s, "loader_over_gpu": ref_step / loader_s,
            "fed_step_s": fed_step, "busy_fraction": ref_step / fed_step,
            "kernel_s_per_step": kernel_s, "gpu_kernel_busy": kernel_s / fed_step,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            "ucf101_epoch_min": UCF101_TRAIN_VIDEOS / args.batch * fed_step / 60}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=1000)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--loader-workers", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--amp", default="bf16")
    p.add_argument("--device", default="cuda")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--models", default="autoencoder,seq2seq,multiscale_gan")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--preset", default="presets/study2017.yaml")
    p.add_argument("--root", default="/tmp/vfp-gpu-scale")
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    root = Path(args.root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    out = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "torch": torch.__version__, "cpus": os.cpu_count(),
           "args": vars(args)}
    jobs = [(root / "videos" / f"v_{i:05d}.avi", i, args.frames) for i in range(args.videos)]
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        paths = pool.map(write_video, jobs, chunksize=4)
    out["generate_s"] = time.perf_counter() - start
    entries = [VideoEntry(Path(path), probe(path)) for path in paths]
    size = (args.size, args.size)
    subset = entries[: max(2 * args.workers, 16)]
    start = time.perf_counter()
    build_cache(subset, root / "cache1", size, workers=1)
    one = sum(e.n_frames for e in subset) / (time.perf_counter() - start)
    start = time.perf_counter()
    summary = build_cache(entries, root / "cache", size, workers=args.workers)
    many = sum(e.n_frames for e in entries) / (time.perf_counter() - start)
    out["cache"] = {"frames_per_s_1": one, f"frames_per_s_{args.workers}": many, "ratio": many / one,
                    "failed": len(summary["failed"]), "gb": summary["bytes"] / 1e9}
    print(json.dumps(out, indent=1), flush=True)
    for name in args.models.split(","):
        out[name] = measure_model(name, args, entries, root / "cache")
        print(name, json.dumps(out[name]), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gpu_scale.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
