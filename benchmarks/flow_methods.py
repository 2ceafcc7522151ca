"""Constant-velocity extrapolation with each classical flow method on real clips: PSNR t+1..t+4.

For every clip (2 context frames + 4 targets, every ``--interval``-th frame) it scores copy-last and
:func:`vfp.flow.extrapolate` with Farneback and DIS (each preset asked for) at each ``--sizes`` entry
(``H,W``: frames resized as ``data.size`` does). PSNR is of the MSE pooled over the clips, per step
(the evaluation's ``psnr_t{k}``). Writes ``benchmarks/results/flow_methods_<name>.json``.

    python benchmarks/flow_methods.py --name ucf101-mini --clips 2 \
        --list ../shared/fixtures/ucf101-mini/ucfTrainTestlist/testlist01.txt
    python benchmarks/flow_methods.py --name real --clips 8 --presets ultrafast fast medium \
        --videos ../shared/fixtures/real ../shared/fixtures/real-more
    python benchmarks/flow_methods.py --name real_blend --clips 8 --sizes 64,64 --presets medium \
        --blend 0.6 0.7 0.8 0.9 --videos ../shared/fixtures/real ../shared/fixtures/real-more
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, RESULTS, machine, table  # noqa: F401  (common puts the repo on sys.path)

from vfp import flow as fl
from vfp.data.video import VIDEO_EXTENSIONS, probe, read_frames
from vfp.frames import to_model, to_pixels

HORIZON = 4


def videos_of(args) -> list[Path]:
    if args.list:
        root = Path(args.list).resolve().parents[1]
        names = [ln.split()[0] for ln in Path(args.list).read_text().splitlines() if ln.strip()]
        return [root / n for n in names]
    out = []
    for folder in args.videos:
        out += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    return out


def clip_starts(n_frames: int, span: int, clips: int) -> list[int]:
    """``clips`` evenly spaced starts of clips of ``span`` frames (fewer when the video is short)."""
    last = n_frames - span
    if last < 0:
        return []
    return sorted({round(last * (i + 0.5) / clips) for i in range(clips)})


def predictors(presets: list[str], blends: list[float] = ()) -> dict:
    """Copy-last, Farneback, DIS per preset, and ``a * DIS(first preset) + (1 - a) * copy-last`` per blend ``a``."""
    copy = lambda ctx: ctx[:, -1:].expand(-1, HORIZON, -1, -1, -1)  # noqa: E731
    preds = {"copy_last": copy, "farneback": lambda ctx: fl.extrapolate(ctx, HORIZON, "farneback")}
    for p in presets:
        preds[f"dis_{p}"] = lambda ctx, p=p: fl.extrapolate(ctx, HORIZON, "dis", p)
    for a in blends:
        preds[f"{a:g} dis_{presets[0]} + {1 - a:g} copy_last"] = \
            lambda ctx, a=a: a * fl.extrapolate(ctx, HORIZON, "dis", presets[0]) + (1 - a) * copy(ctx)
    return preds


def measure(videos: list[Path], size: tuple[int, int], args) -> dict:
    preds = predictors(args.presets, args.blend)
    sq = {k: torch.zeros(HORIZON, dtype=torch.float64) for k in preds}
    secs = dict.fromkeys(preds, 0.0)
    n_clips = 0
    for path in videos:
        span = (1 + HORIZON) * args.interval + 1
        for start in clip_starts(probe(path), span, args.clips):
            idx = start + args.interval * np.arange(2 + HORIZON)
            frames = torch.from_numpy(read_frames(path, idx, size)).permute(0, 3, 1, 2)[None]
            clip = to_model(frames)
            ctx, target = clip[:, :2], to_pixels(clip[:, 2:])
            for name, fn in preds.items():
                t0 = time.perf_counter()
                pred = fn(ctx)
                secs[name] += time.perf_counter() - t0
                sq[name] += (to_pixels(pred) - target).pow(2).mean(dim=(0, 2, 3, 4)).double()
            n_clips += 1
    psnr = {k: [10 * math.log10(255.0**2 / (v[i].item() / n_clips)) for i in range(HORIZON)] for k, v in sq.items()}
    return {"size": list(size), "clips": n_clips, "videos": len(videos), "psnr": psnr,
            "seconds_per_clip": {k: v / max(n_clips, 1) for k, v in secs.items()}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="results file suffix")
    ap.add_argument("--list", help="an official split list (e.g. testlist01.txt): its videos")
    ap.add_argument("--videos", nargs="*", default=[], help="folders of videos (every video under them)")
    ap.add_argument("--clips", type=int, default=1, help="clips per video, evenly spaced")
    ap.add_argument("--interval", type=int, default=2, help="frame step (data.interval)")
    ap.add_argument("--sizes", nargs="*", default=["64,64", "240,320"], help="H,W frame sizes")
    ap.add_argument("--presets", nargs="*", default=["fast", "medium"], help="DIS presets")
    ap.add_argument("--blend", nargs="*", type=float, default=[],
                    help="weights a: also score a * DIS (first preset) + (1 - a) * copy-last (a fixed hedge)")
    args = ap.parse_args(argv)
    videos = videos_of(args)
    if not videos:
        ap.error("no videos: give --list or --videos")
    torch.set_num_threads(1)
    results = [measure(videos, tuple(int(v) for v in s.split(",")), args) for s in args.sizes]
    for r in results:
        base = r["psnr"]["copy_last"][0]
        rows = [{"predictor": k, **{f"t+{i + 1}": f"{v[i]:.2f}" for i in range(HORIZON)},
                 "gain t+1": f"{v[0] - base:+.2f}", "ms/clip": f"{1000 * r['seconds_per_clip'][k]:.1f}"}
                for k, v in r["psnr"].items()]
        print(f"\n{args.name}: {r['clips']} clips of {r['videos']} videos at {r['size'][0]}x{r['size'][1]}, "
              f"interval {args.interval}")
        print(table(rows, ["predictor", *[f"t+{i + 1}" for i in range(HORIZON)], "gain t+1", "ms/clip"]))
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": "python benchmarks/flow_methods.py "
           + " ".join(argv if argv is not None else __import__("sys").argv[1:]), "machine": machine(),
           "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"flow_methods_{args.name}.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
