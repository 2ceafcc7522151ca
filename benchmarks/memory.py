"""Issue 7: does reading clips leak memory? RSS growth between clip 20 and clip 200 of a DataLoader.

Cold decode (no cache, a decord reader opened per item), batch size 1, ``num_workers`` 0 and 2.
RSS is the main process plus its worker processes (psutil). The reference is the same loop's RSS at
clip 20, so start-up (imports, worker fork, first readers) is not counted as growth.

    python benchmarks/memory.py [--clips 200] [--warmup 20]
"""
from __future__ import annotations

import argparse
import time

from common import REPO, bench_config, machine, sample_videos, save, table

MB = 1024 * 1024


def rss_total(proc) -> tuple[int, int]:
    """(bytes of main process RSS, bytes of main + children RSS)."""
    main = proc.memory_info().rss
    children = 0
    for child in proc.children(recursive=True):
        try:
            children += child.memory_info().rss
        except Exception:  # a worker that just exited
            pass
    return main, main + children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    import psutil
    import torch
    from torch.utils.data import DataLoader

    from vfp.data.clips import ClipDataset, clip_span
    from vfp.data.video import VideoEntry, probe

    cfg = bench_config(REPO / "params.yaml")
    section = cfg.model_section()
    T = dict(section.net).get("n_input", 1) + section.n_output
    size, interval = cfg.data.size, cfg.data.interval
    paths, where = sample_videos()
    entries = [VideoEntry(p, probe(p)) for p in paths]
    entries = [e for e in entries if e.n_frames >= clip_span(T, interval)]
    per_video = -(-args.clips // len(entries))
    ds = ClipDataset(entries, T, interval, size, random_start=True, clips_per_video=per_video, seed=0)
    import os

    print(f"videos: {where}; {len(ds)} clips of T={T} every {interval} at {list(size)}; torch threads "
          f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})")
    proc = psutil.Process()
    rows = []
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=1, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(0))
        samples = {}
        start = time.perf_counter()
        for k, _batch in enumerate(loader, start=1):
            if k in (args.warmup, args.clips) or k % 20 == 0:
                samples[k] = rss_total(proc)
            if k >= args.clips:
                break
        seconds = time.perf_counter() - start
        del loader
        (m0, t0), (m1, t1) = samples[args.warmup], samples[args.clips]
        n = args.clips - args.warmup
        rows.append({
            "workers": workers, "RSS@20 MB": t0 / MB, f"RSS@{args.clips} MB": t1 / MB,
            "growth MB": (t1 - t0) / MB, "KB/clip": (t1 - t0) / 1024 / n,
            "main growth MB": (m1 - m0) / MB, "clips/s": args.clips / seconds,
            "trace MB": [round(samples[k][1] / MB, 1) for k in sorted(samples)],
        })
    print()
    print(table(rows, ["workers", "RSS@20 MB", f"RSS@{args.clips} MB", "growth MB", "KB/clip", "main growth MB",
                       "clips/s"]))
    for r in rows:
        print(f"workers={r['workers']} total RSS every 20 clips (MB): {r['trace MB']}")
    path = save("memory", {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "videos": where,
                           "clip": {"T": T, "interval": interval, "size": list(size)},
                           "warmup": args.warmup, "clips": args.clips, "rows": rows})
    print(f"-> {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
