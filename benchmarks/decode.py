"""Decode throughput of the dataset's path vs plain decoding of the same files, measured in one run.

Reference: decord's plain sequential read (one reader per file, every frame, at the training size) and
``ffmpeg -i f -vf scale=W:H -f null -`` (imageio-ffmpeg binary, one thread, process start included).
Measured: ``ClipDataset`` items (``T`` frames every ``interval``, random starts) cold (no cache) and
cached (after ``build_cache``), then DataLoader clips/s with 0/1/2 workers, cold and cached.
"Delivered" frames are the ``T`` frames an item returns; a clip spans ``(T-1)*interval+1`` frames.

    python benchmarks/decode.py [--clips-per-video 4] [--repeats 2]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import REPO, machine, sample_videos, save, table, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-video", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each in-process measurement")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    import decord
    import imageio_ffmpeg
    import torch
    from torch.utils.data import DataLoader

    from vfp.config import load_config
    from vfp.data.cache import build_cache
    from vfp.data.clips import ClipDataset, clip_span
    from vfp.data.video import VideoEntry, probe

    cfg = load_config(REPO / "params.yaml")
    section = cfg.model_section()
    size, interval = cfg.data.size, cfg.data.interval
    n_input = dict(section.net).get("n_input", 1)
    T = n_input + section.n_output
    paths, where = sample_videos()
    entries = [VideoEntry(p, probe(p)) for p in paths]
    entries = [e for e in entries if e.n_frames >= clip_span(T, interval)]
    total_frames = sum(e.n_frames for e in entries)
    print(f"videos: {where}; usable {len(entries)}, {total_frames} frames; "
          f"clip: T={T} ({cfg.model}) every {interval} -> span {clip_span(T, interval)}, size {list(size)}")

    def best(fn):
        return min(timed(fn)[1] for _ in range(args.repeats))

    rows, results = [], {}

    def add(name, seconds, frames=None, clips=None, note=""):
        row = {"path": name, "seconds": seconds, "note": note}
        if frames is not None:
            row["frames/s"] = frames / seconds
        if clips is not None:
            row["clips/s"] = clips / seconds
        rows.append(row)
        results[name] = {k: v for k, v in row.items() if k != "path"}

    # ---- references
    def decord_sequential():
        for e in entries:
            reader = decord.VideoReader(str(e.path), width=size[1], height=size[0], num_threads=1)
            reader.get_batch(list(range(e.n_frames))).asnumpy()
            del reader

    add("ref: decord sequential", best(decord_sequential), frames=total_frames, note="every frame, 1 reader/file")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()

    def ffmpeg_null():
        for e in entries:
            subprocess.run([ffmpeg, "-v", "error", "-threads", "1", "-i", str(e.path), "-vf",
                            f"scale={size[1]}:{size[0]}", "-f", "null", "-"], check=True)

    add("ref: ffmpeg -f null", best(ffmpeg_null), frames=total_frames, note="every frame, process start incl.")

    # ---- the dataset's decode path
    kw = dict(n_frames=T, interval=interval, size=size, random_start=True, clips_per_video=args.clips_per_video,
              seed=0)
    cold = ClipDataset(entries, **kw)
    n = len(cold)

    def items(ds):
        for i in range(len(ds)):
            ds[i]

    def open_first():
        for e in entries:
            reader = decord.VideoReader(str(e.path), width=size[1], height=size[0], num_threads=1)
            reader.get_batch([0]).asnumpy()
            del reader

    seconds = best(open_first)
    add("decord open + 1st frame", seconds, frames=len(entries),
        note=f"fixed cost per reader: {1000 * seconds / len(entries):.2f} ms")
    default_threads = torch.get_num_threads()
    if default_threads > 1:  # the main process of a num_workers=0 loader: torch's OpenMP pool spins
        add(f"ClipDataset cold, torch {default_threads} threads", best(lambda: items(cold)), frames=n * T, clips=n,
            note="OpenMP spin-wait contends with decoding")
    torch.set_num_threads(1)  # as in a DataLoader worker
    seconds = best(lambda: items(cold))
    add("ClipDataset cold", seconds, frames=n * T, clips=n, note="1 torch thread; frames = delivered")
    results["ClipDataset cold"]["span_frames/s"] = n * clip_span(T, interval) / seconds
    cache_dir = Path(tempfile.mkdtemp(prefix="vfp-bench-cache-"))
    try:
        _, build_s = timed(build_cache, entries, cache_dir, size, workers=1)
        add("build_cache (1 proc)", build_s, frames=total_frames, note="decode all + write .npy")
        cached = ClipDataset(entries, cache_dir=cache_dir, **kw)
        add("ClipDataset cached", best(lambda: items(cached)), frames=n * T, clips=n, note="1 torch thread; mmap .npy")

        ratio = results["ClipDataset cold"]["frames/s"] / results["ref: decord sequential"]["frames/s"]
        span_ratio = results["ClipDataset cold"]["span_frames/s"] / results["ref: decord sequential"]["frames/s"]
        print()
        print(table(rows, ["path", "frames/s", "clips/s", "seconds", "note"]))
        fill_ratio = results["build_cache (1 proc)"]["frames/s"] / results["ref: decord sequential"]["frames/s"]
        print(f"\ncold dataset / decord sequential: {ratio:.2f} (delivered frames; target >= 0.8), "
              f"{span_ratio:.2f} counting the {clip_span(T, interval)} frames each clip spans")
        print(f"cache fill (the default decode path, data.cache on) / decord sequential: {fill_ratio:.2f} "
              f"(target >= 0.8)")

        # ---- loader
        loader_rows = []
        for label, ds in (("cold", cold), ("cached", cached)):
            for workers in (0, 1, 2):
                def run():
                    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                                        generator=torch.Generator().manual_seed(0))
                    for _ in loader:
                        pass
                seconds = best(run)
                loader_rows.append({"loader": f"{label}, {workers} workers", "clips/s": n / seconds,
                                    "frames/s": n * T / seconds, "seconds": seconds})
        print()
        print(table(loader_rows, ["loader", "clips/s", "frames/s", "seconds"]))
        print(f"({n} clips per pass, batch {args.batch_size}, worker start-up included, best of {args.repeats})")
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    path = save("decode", {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "videos": where,
        "clip": {"T": T, "interval": interval, "size": list(size), "clips": n}, "decode": results,
        "ratio_cold_vs_decord_delivered": ratio, "ratio_cold_vs_decord_span": span_ratio,
        "ratio_cache_fill_vs_decord": fill_ratio,
        "loader": loader_rows,
    })
    print(f"-> {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
