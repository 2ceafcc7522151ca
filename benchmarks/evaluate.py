"""Evaluate benchmark: clips/s of the evaluation loop vs the model's forward-only rate.

    python benchmarks/evaluate.py [--quick] [--out DIR] [--models ...] [--batch N] [--threads N]

On the same pre-loaded in-memory test batches (``evaluate.batch_size`` clips of
``n_ctx + evaluate.horizon`` frames, ``n_ctx = evaluate.context`` or more, at ``data.size``):

* ``eval``: the test evaluator of ``vfp.engines.testing`` (``create_test_evaluator``: the model's
  autoregressive prediction of ``horizon`` frames + every metric of ``vfp.metrics.per_step_metrics``,
  accumulated beside the baselines) with the baselines (copy-last, flow extrapolation) and masks
  already in the baseline cache, as every evaluation after the first one of a (split, protocol, size) finds them;
* reference ``forward``: the model alone, ``model(context, horizon)`` under ``no_grad`` in a loop;
* ``metrics``: ``per_step_metrics`` of the model's prediction alone (the work evaluation adds).

Reported per learned model: clips/s of each, ``eval / forward`` and the fraction of the evaluation
time that is metrics (``metrics_fraction = 1 - forward / eval`` and ``metrics_fraction_direct =
metrics / eval``). Also, once: ``baselines``, the time to compute the baselines and masks of these
batches (paid once per split, protocol and size, then cached). Models have their initial weights:
the time does not depend on them. Modes alternate over repeats; ratios use each mode's fastest run
(medians are kept in the JSON too). Writes
``benchmarks/results/evaluate.json``.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

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

MODELS = ("seq2seq", "autoencoder", "multiscale_gan")  # learned models; the baselines are timed apart


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all three)")
    parser.add_argument("--batches", type=int, default=None, help="batches per timed run (default 3; quick 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per mode (default 5; quick 1)")
    args = parser.parse_args(argv)
    set_threads(args)
    import torch

    from vfp.baselines import BaselineCache, baseline_batch
    from vfp.data.cache import build_cache
    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split
    from vfp.engines.testing import BaselineSource, create_test_evaluator
    from vfp.metrics import per_step_metrics
    from vfp.models.registry import build_model

    n_batches = args.batches or (1 if args.quick else 3)
    repeats = args.repeats or (1 if args.quick else 5)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        print(f"error: unknown models {sorted(unknown)}; valid: {', '.join(MODELS)}", file=sys.stderr)
        return 1
    cfg = load_cfg(args.params)
    ev = cfg.evaluate
    batch = batch_size(args, ev.batch_size)
    horizon = ev.horizon
    device = torch.device("cpu")
    data = prepare_data(cfg, quick=args.quick, data_dir=args.data)
    videos = read_split(data["split_dir"], "test")
    build_cache(videos, data["cache_dir"], tuple(cfg.data.size), workers=2)
    built = {m: build_model(m, **dict(cfg.model_section(m).net)).eval() for m in models}
    n_ctx = max([ev.context] + [int(m.n_input) for m in built.values()])
    ds = ClipDataset(videos, n_ctx + horizon, cfg.data.interval, cfg.data.size, random_start=False,
                     clips_per_video=max(1, -(-batch * n_batches // max(1, len(videos)))), cache_dir=data["cache_dir"])
    batches = load_batches(ds, batch, n_batches)
    clips = batch * n_batches
    print(f"data: {data['source']}; {n_batches} batches of {batch} test clips ({n_ctx} context + {horizon} "
          f"predicted frames, {cfg.data.size[0]}x{cfg.data.size[1]}), torch threads {torch.get_num_threads()}, "
          f"{repeats} repeats")

    for i, b in enumerate(batches):
        b["key"] = [f"{i}:{j}" for j in range(b["frames"].shape[0])]
    cache = BaselineCache(None, "benchmark")

    def run_baselines():
        t0 = time.perf_counter()
        for b in batches:
            frames = b["frames"].float()
            cache.store(b["key"], baseline_batch(frames[:, :n_ctx], frames[:, n_ctx:n_ctx + horizon], ev))
        return time.perf_counter() - t0

    baseline_times = [run_baselines() for _ in range(max(1, min(3, repeats)))]

    def run_eval(name, model):
        baselines = BaselineSource(ev, cache)
        engine = create_test_evaluator(model, n_ctx=n_ctx, horizon=horizon, device=device, baselines=baselines)
        t0 = time.perf_counter()
        engine.run(batches, max_epochs=1)
        assert baselines.seconds == 0.0, "baselines were recomputed: the cache missed"
        return time.perf_counter() - t0

    @torch.no_grad()
    def run_forward(model):
        t0 = time.perf_counter()
        for b in batches:
            frames = b["frames"].to(device).float()
            model(frames[:, n_ctx - model.n_input:n_ctx], horizon).float()
        return time.perf_counter() - t0

    preds = {}

    @torch.no_grad()
    def run_metrics(name, model):
        if name not in preds:
            preds[name] = [model(b["frames"][:, n_ctx - model.n_input:n_ctx], horizon).float() for b in batches]
        t0 = time.perf_counter()
        for b, pred in zip(batches, preds[name]):
            frames = b["frames"].float()
            rec = cache.lookup(b["key"])
            per_step_metrics(pred, frames[:, n_ctx:n_ctx + horizon], frames[:, n_ctx - 1], mask=rec["mask"],
                             keep=rec["keep"], ssim_luma=ev.ssim == "luma")
        return time.perf_counter() - t0

    rows = []
    for name, model in built.items():
        run_eval(name, model)  # warm-up
        run_forward(model)
        times = {"eval": [], "forward": [], "metrics": []}
        for r in range(repeats):
            order = ["eval", "forward", "metrics"]
            order = order[r % 3:] + order[:r % 3]
            for mode in order:
                t = (run_eval(name, model) if mode == "eval" else run_forward(model) if mode == "forward"
                     else run_metrics(name, model))
                times[mode].append(t)
        # the fastest of the repeats (the least-disturbed run, as timeit does): on a shared machine the
        # median of a mode can land on a run that other processes slowed, which no ratio survives
        med = {k: min(v) for k, v in times.items()}
        row = {"model": name, "times_s": times, "median_s": {k: statistics.median(v) for k, v in times.items()},
               "eval_clips_per_s": clips / med["eval"], "forward_clips_per_s": clips / med["forward"],
               "metrics_clips_per_s": clips / med["metrics"],
               "eval_over_forward": med["eval"] / med["forward"],
               "metrics_fraction": 1 - med["forward"] / med["eval"],
               "metrics_fraction_direct": med["metrics"] / med["eval"]}
        rows.append(row)
        print(f"  {name}: eval {row['eval_clips_per_s']:.1f} clips/s, forward {row['forward_clips_per_s']:.1f} "
              f"clips/s, metrics {row['metrics_fraction_direct'] * 100:.0f}% of eval time")
    print()
    print(table(rows, [("model", "model", ""), ("eval_clips_per_s", "eval clips/s", ".1f"),
                       ("forward_clips_per_s", "forward clips/s", ".1f"),
                       ("eval_over_forward", "eval / forward time", ".2f"),
                       ("metrics_clips_per_s", "metrics-only clips/s", ".1f"),
                       ("metrics_fraction", "1 - forward/eval", ".2f"),
                       ("metrics_fraction_direct", "metrics / eval", ".2f")]))
    worst = max((max(r["metrics_fraction"], r["metrics_fraction_direct"]) for r in rows), default=float("nan"))
    base_s = min(baseline_times)
    fastest = min(rows, key=lambda r: clips / r["eval_clips_per_s"]) if rows else None
    print(f"\nmetrics take at most {worst * 100:.0f}% of a model's evaluation time (baselines cached)")
    print(f"baselines + masks (copy-last, flow; mask {ev.mask}): {clips / base_s:.1f} clips/s, computed once per "
          f"(split, protocol, size)" + (f"; {base_s / (clips / fastest['eval_clips_per_s']):.2f}x the evaluation "
                                        f"time of the fastest model ({fastest['model']})" if fastest else ""))
    path = write_results("evaluate", args.out, {
        "quick": args.quick, "data": data["source"], "batch_size": batch, "batches": n_batches, "repeats": repeats,
        "n_ctx": n_ctx, "horizon": horizon, "size": list(cfg.data.size), "mask": ev.mask, "models": rows,
        "worst_metrics_fraction": worst,
        "baselines": {"times_s": baseline_times, "clips_per_s": clips / base_s,
                      "note": "copy-last + flow extrapolation + masks, computed once per (split, protocol, size)"},
    })
    print(f"wrote {path}")
    assert all(finite_positive(r["eval_clips_per_s"]) for r in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
