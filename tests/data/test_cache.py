"""Decoded-frame cache: same frames as uncached decoding, atomic files, build_cache counts, staleness."""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from vfp.data.cache import build_cache, cache_path, cached_frames
from vfp.data.clips import ClipDataset
from vfp.data.splits import read_split
from vfp.data.video import VideoEntry, read_all

SIZE = (48, 64)


def test_cached_items_equal_uncached(sample_split, tmp_path):
    videos = read_split(sample_split, "train")[:4]
    kwargs = dict(n_frames=4, interval=2, size=SIZE, random_start=True, clips_per_video=3, seed=5)
    plain = ClipDataset(videos, **kwargs)
    cached = ClipDataset(videos, cache_dir=tmp_path / "cache", **kwargs)
    for i in range(len(plain)):
        a, b = plain[i], cached[i]
        assert a["start"] == b["start"] and a["video"] == b["video"]
        assert torch.equal(a["frames"], b["frames"])  # same decode path -> identical, not just close
    files = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(files) == 4
    assert not [p for p in (tmp_path / "cache").rglob("*") if "tmp" in p.name]


def test_cache_file_content_and_mmap(sample_split, tmp_path):
    video = read_split(sample_split, "test")[0]
    frames = cached_frames(video, tmp_path, SIZE)
    path = cache_path(video, tmp_path, SIZE)
    assert path.is_file() and path.parent.parent.name == "48x64" and path.name == f"{path.parent.name}{path.stem[2:]}.npy"
    assert isinstance(frames, np.memmap)
    assert frames.shape == (video.n_frames, *SIZE, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, read_all(video.path, SIZE))
    mtime = path.stat().st_mtime_ns
    cached_frames(video, tmp_path, SIZE)  # second read: no rewrite
    assert path.stat().st_mtime_ns == mtime


def test_build_cache_counts_and_failures(sample_split, tmp_path, capfd):
    videos = read_split(sample_split, "train")[:3]
    bad = tmp_path / "Bad" / "v_Bad_g01_c01.avi"
    bad.parent.mkdir()
    bad.write_bytes(b"not a video at all" * 50)
    first = build_cache(videos + [VideoEntry(bad, 24)], tmp_path / "c", SIZE, workers=2)
    assert first["decoded"] == 3 and first["already"] == 0
    assert [f["file"] for f in first["failed"]] == [str(bad)]
    assert first["bytes"] == sum(p.stat().st_size for p in (tmp_path / "c").rglob("*.npy")) > 0
    warnings = [l for l in capfd.readouterr().err.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1 and str(bad) in warnings[0]
    again = build_cache(videos, tmp_path / "c", SIZE, workers=1)
    assert again["decoded"] == 0 and again["already"] == 3


def test_replaced_video_is_not_served_stale(sample_root, tmp_path):
    """A video regenerated at the same path (e.g. another sample seed) must not hit the old entry."""
    src_a = sample_root / "PanLeft" / "v_PanLeft_g01_c01.avi"
    src_b = sample_root / "TiltUp" / "v_TiltUp_g01_c01.avi"
    path = tmp_path / "PanLeft" / "v_PanLeft_g01_c01.avi"
    path.parent.mkdir()
    path.write_bytes(src_a.read_bytes())
    old = np.array(cached_frames(VideoEntry(path, 24), tmp_path / "cache", SIZE))
    time.sleep(0.01)
    path.write_bytes(src_b.read_bytes())
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    new = np.array(cached_frames(VideoEntry(path, 24), tmp_path / "cache", SIZE))
    np.testing.assert_array_equal(new, read_all(src_b, SIZE))
    assert not np.array_equal(old, new)


def test_cut_entry_is_decoded_again(sample_split, tmp_path):
    """An entry left empty or short (a disk full, a copy cut short) is rebuilt."""
    videos = read_split(sample_split, "test")[:2]
    build_cache(videos, tmp_path, SIZE, workers=1)
    paths = [cache_path(v, tmp_path, SIZE) for v in videos]
    paths[0].write_bytes(b"")
    paths[1].write_bytes(paths[1].read_bytes()[: paths[1].stat().st_size // 2])
    again = build_cache(videos, tmp_path, SIZE, workers=1)
    assert again["decoded"] == 2 and again["already"] == 0
    for video in videos:
        np.testing.assert_array_equal(cached_frames(video, tmp_path, SIZE), read_all(video.path, SIZE))
    paths[0].write_bytes(b"\x93NUMPY")  # a bad entry met by a reader (not build_cache) is rebuilt too
    np.testing.assert_array_equal(cached_frames(videos[0], tmp_path, SIZE), read_all(videos[0].path, SIZE))
