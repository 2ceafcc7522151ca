"""SIGKILL during the cache fill: the next fill completes and its entries equal an uninterrupted fill's;
a half-written entry is never read (entries are renamed into place whole)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from vfp.data.cache import build_cache
from vfp.data.splits import read_split

REPO = Path(__file__).resolve().parents[2]
SIZE = (48, 64)

FILL = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vfp import fileio
    from vfp.data.cache import build_cache
    from vfp.data.splits import read_split
    real = fileio._open_temp
    def slow(path):  # an entry half written when the kill comes
        handle, tmp = real(path)
        class Slow:
            def __getattr__(self, name):
                return getattr(handle, name)
            def write(self, data):
                n = handle.write(data[: len(data) // 2]); handle.flush()
                print("writing", flush=True); time.sleep(30)
                return n + handle.write(data[len(data) // 2:])
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return handle.__exit__(*exc)
        return Slow(), tmp
    fileio._open_temp = slow
    build_cache(read_split(Path(sys.argv[1]), "train")[:3], Path(sys.argv[2]), (48, 64), workers=1)
""")


def _entries(cache: Path) -> dict[str, bytes]:
    return {p.relative_to(cache).as_posix(): p.read_bytes() for p in sorted(cache.rglob("*.npy"))}


def test_sigkill_during_cache_fill_then_fill_again_equals_one_fill(sample_split, tmp_path):
    videos = read_split(sample_split, "train")[:3]
    build_cache(videos, tmp_path / "straight", SIZE, workers=1)
    cache = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", FILL, str(sample_split), str(cache)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "writing"  # mid-way through the first entry
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert _entries(cache) == {}  # the half-written entry is a temp file, never an entry
    assert [p.name.endswith(".tmp") for p in cache.rglob("*") if p.is_file()] == [True]
    summary = build_cache(videos, cache, SIZE, workers=1)
    assert summary["decoded"] == 3 and not summary["failed"]
    assert _entries(cache) == _entries(tmp_path / "straight")
