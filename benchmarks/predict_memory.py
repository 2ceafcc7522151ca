"""`vfp predict --mode next` streams: peak memory on a long video against a 10x shorter one (target ratio <= 1.10).

Two generated videos of the same content (a panning texture, H.264, `--size` frames) that differ only in
length (`--frames SHORT LONG`, default 100 and 1000) go through `vfp predict VIDEO OUT.mp4 --mode next`,
each in a fresh process; the peak resident memory of that process (VmHWM, /proc/self/status) is read at
the end. Holding the video would cost LONG - SHORT frames (at 240x320: ~0.23 MB each as uint8, 4x that
as float), so a ratio near 1 says the frames are streamed. The model: `--checkpoint`, else a small untrained
`warp` (features [8, 16], 4 input frames, blend: the same code path at a fraction of the pretrained model's
compute; the model's own memory does not grow with the video). `--checkpoint pretrained` uses vfp's.

    python benchmarks/predict_memory.py [--quick] [--out DIR] [--frames 100 1000] [--size 240 320]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO
from loader import write_results

TARGET_RATIO = 1.10

CHILD = """
import json, sys, time
from vfp.predict import PredictOptions, predict_video
t = time.perf_counter()
ckpt = None if sys.argv[3] == "pretrained" else sys.argv[3]
res = predict_video(sys.argv[1], sys.argv[2], ckpt, PredictOptions(mode="next", progress=False))
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"frames": res.frames_read, "predicted": res.predicted, "written": res.frames_written,
                  "peak_mb": peak / 1024, "wall_s": time.perf_counter() - t, "model_s": res.model_seconds}))
"""


def make_video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    """A texture panning 2 px per frame (right, then back), H.264."""
    from vfp.videowrite import open_writer

    h, w = size
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (h // 8 + 2, (w + 400) // 8 + 2, 3), dtype=np.uint8)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.uint8))
    with open_writer(path, fps=25) as writer:
        for t in range(frames):
            x = 2 * (t % 200 if (t // 200) % 2 == 0 else 200 - t % 200)
            writer.write(texture[:h, x:x + w])
    return path


def small_model(path: Path) -> Path:
    import torch

    from vfp.modelio import save_trained
    from vfp.models.registry import build_model

    torch.manual_seed(0)
    net = {"n_input": 4, "features": [8, 16], "blend": True}
    save_trained(path, "warp", net, build_model("warp", **net), n_output=1, extra={"interval": 1})
    return path


def run(video: Path, out: Path, checkpoint: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(video), str(out), checkpoint], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode != 0:
        raise SystemExit(f"vfp predict failed on {video}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 and 200 frames at 64x96 (a smoke run)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--frames", type=int, nargs=2, default=(100, 1000), metavar=("SHORT", "LONG"))
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    parser.add_argument("--checkpoint", default="", help="model file, or 'pretrained' (default: a small warp)")
    args = parser.parse_args()
    frames, size = ((20, 200), (64, 96)) if args.quick else (tuple(args.frames), tuple(args.size))
    rows = []
    with tempfile.TemporaryDirectory(prefix="vfp-predict-mem-") as tmp:
        checkpoint = args.checkpoint or small_model(Path(tmp) / "small.pt")
        for n in frames:
            t0 = time.perf_counter()
            video = make_video(Path(tmp) / f"pan{n}.mp4", n, size)
            row = {"video_frames": n, "make_s": time.perf_counter() - t0,
                   **run(video, Path(tmp) / "out.mp4", str(checkpoint))}
            row["fps"] = row["predicted"] / row["wall_s"]
            rows.append(row)
            print(f"{n} frames at {size[0]}x{size[1]}: peak {row['peak_mb']:.0f} MB, {row['wall_s']:.0f} s, "
                  f"{row['fps']:.1f} frames/s end to end", flush=True)
    ratio = rows[1]["peak_mb"] / rows[0]["peak_mb"]
    met = ratio <= TARGET_RATIO
    print(f"peak memory {frames[1]} / {frames[0]} frames: x{ratio:.3f} (target <= {TARGET_RATIO}): "
          f"{'MET' if met else 'NOT MET'}")
    path = write_results("predict_memory" + ("_quick" if args.quick else ""), args.out, {
        "quick": args.quick, "size": list(size), "checkpoint": args.checkpoint or "small warp (features [8, 16], untrained)", "rows": rows,
        "ratio": ratio, "target_ratio": TARGET_RATIO, "target_met": met}, script="predict_memory")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
