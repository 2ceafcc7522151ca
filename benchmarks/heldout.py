"""A model file against copy-last and flow on whole videos it never saw, at each video's own size, t+1..t+H.

For each video, `--clips` clips at evenly spaced starts: the model's context (the Python API's
`Predictor.predict`, the code `vfp predict` runs), then `--horizon` true frames. PSNR of the pooled MSE
per horizon step (all clips of all videos, in [0, 255]), per video at t+1, and per clip (the worst clips
say where the model fails). Baselines: copy-last (the last frame repeated) and flow (vfp.baselines: OpenCV
flow between the last two frames, constant velocity, with params.yaml's default flow.method).

    python benchmarks/heldout.py [--checkpoint M.pt] [--clips 8] [--horizon 4] [--out DIR] [VIDEO ...]

Default videos: the pretrained model's held-out real videos (presets/pretrained_footage.py) from
../shared/fixtures. Default model: the pretrained model. Result: <out>/heldout.json.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO
from einops import rearrange
from loader import write_results

from vfp.api import load_model
from vfp.baselines import LABELS, NAMES, predictors
from vfp.config import FlowConfig
from vfp.data.stream import video_info
from vfp.data.video import probe, read_frames
from vfp.frames import to_model, to_uint8

sys.path.insert(0, str(REPO / "presets"))
from pretrained_footage import HELD_OUT, REAL_FOLDERS  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures"


def default_videos() -> list[Path]:
    found = {p.name: p for f in REAL_FOLDERS for p in (FIXTURES / f).glob("*") if p.name in HELD_OUT}
    return [found[name] for name in HELD_OUT if name in found]


def psnr(sq_sum: float, count: int) -> float:
    return 10 * math.log10(255.0 ** 2 / max(sq_sum / max(count, 1), 1e-10))


def clip_errors(model, frames: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """``{method: squared-error sum per step [horizon]}`` for one clip (context + horizon true frames)."""
    n_in = model.n_input
    context, truth = frames[:n_in], frames[n_in:].astype(np.float64)
    preds = {"model": model.predict(context, steps=horizon)}
    x = to_model(rearrange(torch.from_numpy(context), "t h w c -> 1 t c h w"))
    for name, fn in predictors(FlowConfig().method, FlowConfig().preset).items():
        preds[name] = to_uint8(rearrange(fn(x, horizon)[0], "t c h w -> t h w c")).numpy()
    return {k: ((v.astype(np.float64) - truth) ** 2).reshape(horizon, -1).sum(1) for k, v in preds.items()}


def evaluate_video(model, path: Path, clips: int, horizon: int) -> dict:
    n = probe(path)
    info = video_info(path)
    span = model.n_input + horizon
    starts = np.unique(np.linspace(0, n - span, clips).round().astype(int)) if n >= span else []
    sums: dict[str, np.ndarray] = {}
    per_clip = []
    for s in starts:
        err = clip_errors(model, read_frames(path, np.arange(s, s + span), info.size), horizon)
        for k, v in err.items():
            sums[k] = sums.get(k, 0) + v
        pixels = info.size[0] * info.size[1] * 3
        per_clip.append({"video": path.name, "start": int(s),
                         **{f"{k}_psnr_t1": round(psnr(v[0], pixels), 3) for k, v in err.items()}})
    return {"video": path.name, "size": list(info.size), "frames": n, "clips": len(starts), "sums": sums,
            "pixels": info.size[0] * info.size[1] * 3 * len(starts), "per_clip": per_clip}


def summarize(videos: list[dict], horizon: int) -> dict:
    methods = list(videos[0]["sums"])
    total = {m: sum(v["sums"][m] for v in videos) for m in methods}
    pixels = sum(v["pixels"] for v in videos)
    steps = {m: [round(psnr(total[m][k], pixels), 3) for k in range(horizon)] for m in methods}
    gains = {b: [round(steps["model"][k] - steps[b][k], 3) for k in range(horizon)] for b in NAMES}
    per_video = [{"video": v["video"], "size": v["size"], "clips": v["clips"],
                  **{f"{m}_psnr_t1": round(psnr(v["sums"][m][0], v["pixels"]), 3) for m in methods}} for v in videos]
    clips = sorted((c for v in videos for c in v["per_clip"]), key=lambda c: c["model_psnr_t1"] - c["flow_psnr_t1"])
    return {"psnr": steps, "gain": gains, "per_video": per_video, "worst_clips_vs_flow": clips[:5],
            "clips": sum(v["clips"] for v in videos)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--checkpoint", default=None, help="model file (default: the pretrained model)")
    parser.add_argument("--clips", type=int, default=8, help="clips per video (default: %(default)s)")
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--name", default="heldout", help="result file name (default: %(default)s)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(args.checkpoint)
    videos = args.videos or default_videos()
    if not videos:
        raise SystemExit(f"error: no videos given and none of {', '.join(HELD_OUT)} under {FIXTURES}")
    t0 = time.perf_counter()
    done = []
    for path in videos:
        done.append(evaluate_video(model, path, args.clips, args.horizon))
        print(f"{path.name}: {done[-1]['clips']} clips", flush=True)
    res = summarize(done, args.horizon)
    for m, values in res["psnr"].items():
        print(f"{LABELS.get(m, m):>10}: " + "  ".join(f"t+{k + 1} {v:.2f}" for k, v in enumerate(values)))
    for b, values in res["gain"].items():
        print(f"gain over {LABELS[b]}: " + "  ".join(f"t+{k + 1} {v:+.2f}" for k, v in enumerate(values)))
    path = write_results(args.name, args.out, {"model": model.name, "checkpoint": args.checkpoint or "pretrained",
                                               "clips_per_video": args.clips, "horizon": args.horizon,
                                               "seconds": round(time.perf_counter() - t0, 1), **res},
                         script="heldout")
    print(f"wrote {path} ({res['clips']} clips, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
