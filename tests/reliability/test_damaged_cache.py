"""Damaged cache bytes are detected, reported in one line and rebuilt (issue: damaged content trusted: a
zero-filled cache entry was used as frames and scored as a +45 dB "gain")."""
from __future__ import annotations

import numpy as np
import torch

from vfp.data.cache import MAGIC, build_cache, cache_path, cached_clip
from vfp.data.clips import ClipDataset
from vfp.data.splits import read_split
from vfp.data.video import read_all

SIZE = (32, 48)


def _zero_fill(path, start_frac: float = 0.4, length: int = 4096) -> None:
    """Zero a block in the middle of the file, keeping its size (what a power cut can leave)."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * start_frac)
    length = min(length, len(data) - len(MAGIC) - 512 - start)  # the frames only, not the trailer
    data[start:start + length] = bytes(length)
    path.write_bytes(bytes(data))


def test_zero_filled_cache_entry_is_detected_and_rebuilt(sample_split, tmp_path, capfd):
    video = read_split(sample_split, "test")[0]
    build_cache([video], tmp_path, SIZE, workers=1)
    path = cache_path(video, tmp_path, SIZE)
    assert path.read_bytes().endswith(MAGIC)
    _zero_fill(path)
    truth = read_all(video.path, SIZE)
    capfd.readouterr()
    frames = cached_clip(video, tmp_path, SIZE, np.arange(video.n_frames))
    np.testing.assert_array_equal(frames, truth)
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "damaged" in lines[0] and str(path) in lines[0]
    np.testing.assert_array_equal(cached_clip(video, tmp_path, SIZE, np.arange(video.n_frames)), truth)
    assert not capfd.readouterr().err  # rebuilt once: the next read is quiet


def test_damaged_entry_gives_the_clip_of_an_uncached_read(sample_split, tmp_path, capfd):
    videos = read_split(sample_split, "train")[:2]
    kwargs = dict(n_frames=4, interval=2, size=SIZE, clips_per_video=2)
    plain = ClipDataset(videos, **kwargs)
    cached = ClipDataset(videos, cache_dir=tmp_path, **kwargs)
    for i in range(len(cached)):
        cached[i]
    for video in videos:
        _zero_fill(cache_path(video, tmp_path, SIZE), start_frac=0.05, length=1 << 20)  # every frame
    for i in range(len(plain)):
        assert torch.equal(plain[i]["frames"], cached[i]["frames"])
    warnings = [ln for ln in capfd.readouterr().err.splitlines() if "damaged" in ln]
    assert len(warnings) == 2  # one per damaged entry, then rebuilt


def test_entry_without_checksums_is_decoded_again(sample_split, tmp_path):
    """An entry cut before its trailer (or written by an older vfp) is never trusted."""
    video = read_split(sample_split, "test")[0]
    build_cache([video], tmp_path, SIZE, workers=1)
    path = cache_path(video, tmp_path, SIZE)
    path.write_bytes(path.read_bytes()[: -len(MAGIC) - 4 * video.n_frames])
    again = build_cache([video], tmp_path, SIZE, workers=1)
    assert again["decoded"] == 1 and path.read_bytes().endswith(MAGIC)
