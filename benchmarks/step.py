"""Step benchmark: training step time of each model under the Ignite engine vs a bare Python loop.

    python benchmarks/step.py [--quick] [--out DIR] [--models seq2seq,autoencoder,multiscale_gan]
                              [--device cpu|cuda] [--amp none|bf16|fp16] [--channels-last] [--compile]

For each model (built and trained exactly as ``vfp.training.train`` builds it: registry, Adam,
``create_supervised_trainer`` / ``create_gan_trainer`` with D, grad clip, AMP, channels-last,
compile), on the same pre-loaded in-memory batches (``train.batch_size`` clips of
``n_input + n_output`` frames at ``data.size``):

* reference ``bare``: the engine's own step function called in a for loop,
  ``trainer._process_function(trainer, batch)``;
* ``engine``: ``trainer.run(batches)``, no handlers;
* ``engine+handlers``: the same step in an engine with the project's per-iteration handlers
  (``Progress`` = RunningAverages + tqdm ProgressBar, ``NanGuard``, ``LiveLog``).

Engine times cover the run's STARTED event to the last ITERATION_COMPLETED (so per-epoch work such
as LiveLog's per-epoch dvclive writes, checkpoints and validation is not in them); the modes alternate over
several repeats and the median step time of each is kept. Target: engine overhead <= 5%.
multiscale_gan runs its full GAN phase (D update, then G with the adversarial term; the
``g_warmup_epochs`` of params.yaml is set to 0 here so that D runs from the first iteration).

Every model runs in a fresh subprocess, which also gives a clean peak memory:
``torch.cuda.max_memory_allocated`` on CUDA, peak RSS (``ru_maxrss``) on CPU, with the RSS before the
model was built (Python + torch + batches) reported beside it. The peak is read right after the
warm-up steps (model, optimizer state, activations), before the timed runs load the handlers
(tqdm, dvclive for LiveLog); the process's final peak is in the JSON too (``memory.peak_mb``). Writes ``benchmarks/results/step.json``
(``step_<device>_<amp>...json`` for non-default flags).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from loader import (  # noqa: E402
    base_parser,
    batch_size,
    finite_positive,
    load_batches,
    load_cfg,
    prepare_data,
    set_threads,
    table,
    write_results,
)

MODELS = ("seq2seq", "autoencoder", "multiscale_gan")
MODES = ("bare", "engine", "engine+handlers")
TARGET_OVERHEAD = 0.05


# ---------------------------------------------------------------- building (as vfp.training.train does)

@dataclasses.dataclass
class Bench:
    name: str
    trainer: Any  # ignite Engine
    model: Any
    discriminator: Any
    device: Any
    n_frames: int
    amp: str
    compiled: bool


def build_trainer(cfg, name: str, *, device: str = "cpu", amp: str = "none", channels_last: bool = False,
                  compile: bool = False) -> Bench:
    """Model(s), optimizer(s) and trainer engine for ``name``, mirroring ``vfp.training.train``."""
    import torch

    from vfp.engines.common import effective_amp, resolve_device, setup_backends
    from vfp.models.registry import build_model, get_spec
    from vfp.recipes import Context, as_kwargs, get_recipe

    torch.manual_seed(cfg.seed)
    section, tc = cfg.model_section(name), cfg.train
    dev = resolve_device(device)
    setup_backends(dev)
    model = build_model(name, **as_kwargs(section.net)).to(dev)
    if channels_last and dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if hasattr(section, "schedule"):  # time the full step (no warm-up phases)
        section = dataclasses.replace(section, schedule=dataclasses.replace(
            section.schedule, g_warmup_epochs=0, d_warmup_epochs=0))
    tc = dataclasses.replace(tc, amp=amp, channels_last=channels_last, compile=compile)
    built = get_recipe(get_spec(name).recipe).build(Context(name, model, section, tc, dev, tuple(cfg.data.size)))
    disc = built.to_save.get("discriminator")
    trainer = built.trainer
    return Bench(name, trainer, model, disc, dev, model.n_input + section.n_output, effective_amp(amp, dev),
                 bool(compile and dev.type == "cuda"))


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _sequence(batches: list, n: int) -> list:
    return [batches[i % len(batches)] for i in range(n)]


def time_bare_loop(bench: Bench, batches: list, n_iter: int, warmup: int = 0) -> dict:
    """The engine's step function in a plain for loop; ``{"step_s", "seconds"}``."""
    trainer = bench.trainer
    trainer.state.epoch = max(1, trainer.state.epoch)  # the GAN phase reads the (1-based) epoch
    step = trainer._process_function
    for batch in _sequence(batches, warmup):
        step(trainer, batch)
    _sync(bench.device)
    t0 = time.perf_counter()
    for batch in _sequence(batches, n_iter):
        step(trainer, batch)
    _sync(bench.device)
    elapsed = time.perf_counter() - t0
    return {"step_s": elapsed / max(1, n_iter), "seconds": elapsed}


def make_engine(bench: Bench, handlers: bool, log_dir: Path):
    """A fresh engine running the same step (same model/optimizer), with or without handlers."""
    from ignite.engine import Engine, Events

    engine = Engine(bench.trainer._process_function)
    marks: dict[str, float] = {}

    def started(_e):
        marks["start"] = time.perf_counter()

    engine.add_event_handler(Events.STARTED, started)  # first STARTED handler
    if handlers:
        from vfp.handlers.live import LiveLog
        from vfp.handlers.progress import NanGuard, Progress

        NanGuard(log=lambda _m: None).attach(engine)
        LiveLog(log_dir).attach(engine)
        Progress().attach(engine)

    def done(_e):
        _sync(bench.device)
        marks["end"] = time.perf_counter()

    engine.add_event_handler(Events.ITERATION_COMPLETED, done)  # last ITERATION_COMPLETED handler
    return engine, marks


def time_engine(engine, marks: dict, bench: Bench, batches: list, n_iter: int) -> dict:
    data = _sequence(batches, n_iter)
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # the tqdm bar
        engine.run(data, max_epochs=1)
    total = time.perf_counter() - t0
    window = marks["end"] - marks["start"]
    return {"step_s": window / n_iter, "seconds": window, "run_s": total}


# ---------------------------------------------------------------- one model (in a fresh process)

def _rss_now_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure_model(cfg, name: str, split_dir: Path, cache_dir: Path, *, batch: int, device: str, amp: str,
                  channels_last: bool, compile: bool, n_iter: int, repeats: int, warmup: int,
                  n_batches: int = 4) -> dict:
    import torch

    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split
    from vfp.models.registry import build_model

    section = cfg.model_section(name)
    n_frames = build_model(name, **dict(section.net)).n_input + section.n_output
    if split_dir is None:  # --synthetic: random frames of the same shape (step time does not depend on content)
        gen = torch.Generator().manual_seed(cfg.seed)
        batches = [{"frames": torch.rand(batch, n_frames, 3, *cfg.data.size, generator=gen) * 2 - 1}
                   for _ in range(n_batches)]
    else:
        ds = ClipDataset(read_split(split_dir, "train"), n_frames, cfg.data.interval, cfg.data.size,
                         random_start=True, clips_per_video=4, seed=cfg.seed, cache_dir=cache_dir)
        batches = load_batches(ds, batch, n_batches)
    dev = torch.device(device)
    if dev.type == "cuda":
        batches = [{"frames": b["frames"].to(dev)} for b in batches]
        torch.cuda.reset_peak_memory_stats()
        base_mem = torch.cuda.memory_allocated() / 2**20
    else:
        base_mem = _rss_now_mb()
    bench = build_trainer(cfg, name, device=device, amp=amp, channels_last=channels_last, compile=compile)
    n_params = sum(p.numel() for p in bench.model.parameters())
    n_params_d = sum(p.numel() for p in bench.discriminator.parameters()) if bench.discriminator is not None else 0

    t0 = time.perf_counter()
    time_bare_loop(bench, batches, 0, warmup=warmup)  # warm-up (and compile, if any)
    warmup_s = time.perf_counter() - t0
    # memory of the training steps alone (before any engine, handler, matplotlib import ...)
    steps_peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _peak_rss_mb()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        engines = {"engine": make_engine(bench, False, Path(tmp) / "a"),
                   "engine+handlers": make_engine(bench, True, Path(tmp) / "b")}
        for r in range(repeats):
            order = MODES[r % 3:] + MODES[:r % 3]  # rotate: no mode always runs first
            for mode in order:
                if mode == "bare":
                    res = time_bare_loop(bench, batches, n_iter)
                else:
                    engine, marks = engines[mode]
                    res = time_engine(engine, marks, bench, batches, n_iter)
                times[mode].append(res["step_s"])
    out: dict[str, Any] = {"model": name, "params": n_params, "params_d": n_params_d, "clip_frames": n_frames,
                           "batch_size": batch, "n_iter": n_iter, "repeats": repeats,
                           "warmup_s": warmup_s, "times_s": times}
    for mode in MODES:
        out[f"{mode}_step_s"] = statistics.median(times[mode])
    bare = out["bare_step_s"]
    out["clips_per_s"] = batch / bare
    out["engine_overhead"] = out["engine_step_s"] / bare - 1
    out["handlers_overhead"] = out["engine+handlers_step_s"] / bare - 1
    out["engine_ratio"] = out["engine_step_s"] / bare
    out["handlers_ratio"] = out["engine+handlers_step_s"] / bare
    if dev.type == "cuda":
        out["memory"] = {"kind": "cuda max_memory_allocated", "peak_mb": torch.cuda.max_memory_allocated() / 2**20,
                         "before_model_mb": base_mem}
    else:
        out["memory"] = {"kind": "cpu peak RSS (ru_maxrss)", "peak_mb": _peak_rss_mb(), "before_model_mb": base_mem}
    out["memory"]["steps_peak_mb"] = steps_peak  # after the warm-up steps, before the timed modes
    out["memory"]["model_mb"] = steps_peak - base_mem
    return out


def _child(args) -> int:
    cfg = load_cfg(args.params)
    split_dir = None if args.synthetic else Path(args.split_dir)
    cache_dir = None if args.synthetic else Path(args.cache_dir)
    res = measure_model(cfg, args.child, split_dir, cache_dir, batch=args.batch,
                        device=args.device, amp=args.amp,
                        channels_last=args.channels_last, compile=args.compile, n_iter=args.iters,
                        repeats=args.repeats, warmup=args.warmup)
    Path(args.child_out).write_text(json.dumps(res))
    return 0


# ---------------------------------------------------------------- main

def results_name(args) -> str:
    parts = ["step"]
    if args.device != "cpu":
        parts.append(args.device)
    if args.amp != "none":
        parts.append(args.amp)
    if args.channels_last:
        parts.append("cl")
    if args.compile:
        parts.append("compile")
    return "_".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all three)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    parser.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile (CUDA only, as in training)")
    parser.add_argument("--iters", type=int, default=None, help="steps per timed run (default 3; quick 1)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per mode, modes interleaved (default 6; quick 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3; quick 1)")
    parser.add_argument("--synthetic", action="store_true",
                        help="random frames instead of the sample videos (no decord/ffmpeg needed, e.g. on a GPU box)")
    parser.add_argument("--child", default=None, help=argparse_hidden())
    parser.add_argument("--child-out", default=None, help=argparse_hidden())
    parser.add_argument("--split-dir", default=None, help=argparse_hidden())
    parser.add_argument("--cache-dir", default=None, help=argparse_hidden())
    args = parser.parse_args(argv)
    if args.iters is None:
        args.iters = 1 if args.quick else 3
    if args.repeats is None:
        args.repeats = 1 if args.quick else 6
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.compile and args.device == "cpu":
        print("note: --compile is ignored on CPU (as in training: vfp.engines.common.maybe_compile)")
    set_threads(args)
    if args.child:
        return _child(args)
    cfg = load_cfg(args.params)
    args.batch = batch_size(args, cfg.train.batch_size)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA GPU is available", file=sys.stderr)
        return 1
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        print(f"error: unknown models {sorted(unknown)}; valid: {', '.join(MODELS)}", file=sys.stderr)
        return 1
    if args.synthetic:
        data = {"source": "synthetic random frames", "split_dir": "-", "cache_dir": "-"}
    else:
        data = prepare_data(cfg, quick=args.quick, data_dir=args.data)
        from vfp.data.cache import build_cache
        from vfp.data.splits import read_split

        build_cache(read_split(data["split_dir"], "train"), data["cache_dir"], tuple(cfg.data.size), workers=2)
    print(f"data: {data['source']}; batch {args.batch}, {cfg.data.size[0]}x{cfg.data.size[1]}, "
          f"device {args.device}, amp {args.amp}, channels_last {args.channels_last}, compile {args.compile}; "
          f"{args.repeats} x {args.iters} steps per mode, {args.warmup} warm-up")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            out = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--child-out", str(out),
                   "--split-dir", str(data["split_dir"]), "--cache-dir", str(data["cache_dir"]),
                   "--params", args.params, "--device", args.device, "--amp", args.amp,
                   "--batch", str(args.batch), "--threads", str(args.threads), "--iters", str(args.iters), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
            cmd += ["--channels-last"] * args.channels_last + ["--compile"] * args.compile + ["--synthetic"] * args.synthetic
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not out.is_file():
                print(proc.stdout + proc.stderr, file=sys.stderr)
                print(f"error: {name} failed (exit {proc.returncode})", file=sys.stderr)
                return 1
            row = json.loads(out.read_text())
            row["process_s"] = time.perf_counter() - t0
            rows.append(row)
            print(f"  {name}: bare {row['bare_step_s'] * 1000:.1f} ms/step, engine x{row['engine_ratio']:.3f}, "
                  f"engine+handlers x{row['handlers_ratio']:.3f}, peak {row['memory']['peak_mb']:.0f} MB "
                  f"({row['process_s']:.0f} s)")
    for row in rows:
        row["peak_mb"] = row["memory"]["steps_peak_mb"]
        row["model_mb"] = row["memory"]["model_mb"]
    print()
    print(table(rows, [("model", "model", ""), ("params", "params", ","), ("bare_step_s", "bare step s", ".4f"),
                       ("clips_per_s", "clips/s", ".1f"), ("engine_ratio", "engine / bare", ".3f"),
                       ("handlers_ratio", "engine+handlers / bare", ".3f"), ("peak_mb", "peak MB", ".0f"),
                       ("model_mb", "peak - before model MB", ".0f")]))
    print("peak MB: after the warm-up training steps (process total); before model: imports + batches")
    worst = max(r["engine_overhead"] for r in rows)
    worst_h = max(r["handlers_overhead"] for r in rows)
    met, met_h = worst <= TARGET_OVERHEAD, worst_h <= TARGET_OVERHEAD
    print(f"\nmemory: {rows[0]['memory']['kind']}, each model in a fresh process")
    print(f"worst engine overhead {worst * 100:+.1f}% (target <= {TARGET_OVERHEAD * 100:.0f}%): "
          f"{'MET' if met else 'NOT MET'}; with handlers {worst_h * 100:+.1f}%: {'MET' if met_h else 'NOT MET'}")
    for row in rows:
        del row["peak_mb"], row["model_mb"]
    path = write_results(results_name(args), args.out, {
        "quick": args.quick, "data": data["source"], "device": args.device, "amp": args.amp,
        "channels_last": args.channels_last, "compile": args.compile, "batch_size": args.batch,
        "size": list(cfg.data.size), "models": rows, "worst_engine_overhead": worst,
        "worst_handlers_overhead": worst_h, "target_overhead": TARGET_OVERHEAD,
        "target_met": met, "target_met_with_handlers": met_h,
    }, script="step")
    print(f"wrote {path}")
    assert all(finite_positive(r["bare_step_s"]) for r in rows)
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
