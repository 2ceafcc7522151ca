"""ClipDataset: shapes, range, round trip, start bounds, frames at start + k*interval, epochs, workers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vfp.data.clips import ClipDataset, clip_span
from vfp.data.splits import read_split
from vfp.data.video import VideoEntry, probe, read_all, read_frames
from vfp.frames import to_model, to_pixels, to_uint8

T, INTERVAL, SIZE = 4, 3, (48, 64)


@pytest.fixture(scope="module")
def train_videos(sample_split):
    return read_split(sample_split, "train")


def _pixels(item_frames: torch.Tensor) -> np.ndarray:
    """Model-space [T, 3, H, W] -> uint8 [T, H, W, 3]."""
    return to_uint8(item_frames).permute(0, 2, 3, 1).numpy()


def test_item_shape_dtype_range(train_videos):
    ds = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=True, clips_per_video=2)
    assert len(ds) == 2 * len(train_videos)
    item = ds[5]
    x = item["frames"]
    assert x.shape == (T, 3, *SIZE) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.05
    assert item["video"] == train_videos[5 // 2].path.stem and isinstance(item["start"], int)


def test_pre_post_processing_round_trip(train_videos):
    ds = ClipDataset(train_videos[:2], T, INTERVAL, SIZE, random_start=False)
    x = ds[0]["frames"]
    back = to_model(to_uint8(x))
    assert torch.allclose(back, x, atol=1 / 127.5)
    assert torch.equal(back, x)  # items are exact uint8 values, so the round trip is lossless
    assert torch.allclose(to_model(to_pixels(x)), x, atol=1e-6)


def test_starts_stay_in_bounds_over_many_draws(train_videos):
    ds = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=True, clips_per_video=3, seed=7)
    n = train_videos[0].n_frames
    last = n - 1 - (T - 1) * INTERVAL
    starts = []
    for epoch in range(15):
        ds.set_epoch(epoch)
        starts += [ds.start_of(i) for i in range(len(ds))]
    assert min(starts) == 0 and max(starts) == last  # deterministic draws reach both ends
    assert len(set(starts)) == last + 1
    assert clip_span(T, INTERVAL) == (T - 1) * INTERVAL + 1


def test_frames_equal_direct_decode_at_start_plus_k_interval(train_videos):
    ds = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=True, clips_per_video=2, seed=3)
    for index in (0, 7, len(ds) - 1):
        item = ds[index]
        video = ds.videos[index // 2]
        indices = item["start"] + INTERVAL * np.arange(T)
        assert indices[-1] <= video.n_frames - 1
        direct = read_frames(video.path, indices, SIZE)
        np.testing.assert_array_equal(_pixels(item["frames"]), direct)
        # also equal to a plain sequential decode of the whole video at the same size
        np.testing.assert_array_equal(direct, read_all(video.path, SIZE)[indices])


def test_set_epoch_changes_random_starts_deterministically(train_videos):
    a = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=True, clips_per_video=2, seed=1)
    b = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=True, clips_per_video=2, seed=1)
    starts = lambda ds: [ds.start_of(i) for i in range(len(ds))]  # noqa: E731
    e0 = starts(a)
    a.set_epoch(1)
    e1 = starts(a)
    assert e0 != e1
    a.set_epoch(0)
    assert starts(a) == e0 == starts(b)
    other = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=True, clips_per_video=2, seed=2)
    assert starts(other) != e0


def test_val_test_starts_are_fixed_and_spread(train_videos):
    ds = ClipDataset(train_videos, T, INTERVAL, SIZE, random_start=False, clips_per_video=3)
    first = [ds.start_of(i) for i in range(len(ds))]
    ds.set_epoch(5)
    assert [ds.start_of(i) for i in range(len(ds))] == first
    last = train_videos[0].n_frames - clip_span(T, INTERVAL)
    for v in range(len(train_videos)):
        per_video = first[3 * v:3 * v + 3]
        assert per_video == sorted(set(per_video)) and 0 <= per_video[0] and per_video[-1] <= last
    assert torch.equal(ds[4]["frames"], ds[4]["frames"])


def _batches(ds, workers, start_method=None):
    loader = DataLoader(ds, batch_size=3, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0), multiprocessing_context=start_method)
    return [(b["frames"], list(b["video"]), b["start"].tolist()) for b in loader]


def test_dataloader_two_workers_matches_zero_workers(train_videos):
    ds = ClipDataset(train_videos[:6], T, INTERVAL, SIZE, random_start=True, clips_per_video=2, seed=4)
    ds.set_epoch(2)
    zero, two = _batches(ds, 0), _batches(ds, 2)
    assert len(zero) == len(two) == 4
    for (fa, va, sa), (fb, vb, sb) in zip(zero, two):
        assert va == vb and sa == sb
        assert torch.equal(fa, fb)


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_workers_started_without_fork_give_the_same_clips(train_videos, start_method):
    """Python 3.12+ warns about fork in a threaded process and 3.14 defaults to forkserver on Linux:
    the dataset must pickle and read the same frames in workers that do not inherit its memory."""
    ds = ClipDataset(train_videos[:4], T, INTERVAL, SIZE, random_start=True, clips_per_video=2, seed=4)
    ds.set_epoch(1)
    zero, two = _batches(ds, 0), _batches(ds, 2, start_method)
    assert len(zero) == len(two) == 3
    for (fa, va, sa), (fb, vb, sb) in zip(zero, two):
        assert va == vb and sa == sb
        assert torch.equal(fa, fb)


def test_paths_are_probed_and_short_videos_skipped(sample_root, capfd):
    paths = sorted(sample_root.glob("PanLeft/*.avi"))[:2]
    ds = ClipDataset(paths, 9, 3, SIZE, random_start=False)  # span 25 > 24 frames
    assert len(ds) == 0 and len(ds.skipped) == 2
    assert "too short" in capfd.readouterr().err
    ds = ClipDataset(paths, 8, 3, SIZE, random_start=False)  # span 22
    assert len(ds) == 2 and ds.videos[0].n_frames == probe(paths[0]) == 24


@pytest.mark.parametrize("width", [16, 24, 48, 72, 64, 50])
def test_read_frames_any_width(sample_root, width):
    """decord 0.6.0's get_batch fails for widths such as 16/24/48/72 (padded rows); read_frames must not."""
    path = sample_root / "PanRight" / "v_PanRight_g01_c01.avi"
    frames = read_frames(path, [0, 3, 9], (32, width))
    assert frames.shape == (3, 32, width, 3) and frames.dtype == np.uint8
    full = torch.from_numpy(read_frames(path, [0, 3, 9], (240, 320))).permute(0, 3, 1, 2).float()
    ref = torch.nn.functional.interpolate(full, size=(32, width), mode="area").permute(0, 2, 3, 1).numpy()
    assert np.abs(frames.astype(np.float32) - ref).mean() < 8  # same picture, not shuffled bytes


def test_entries_keep_given_frame_count(sample_root):
    path = sample_root / "TiltUp" / "v_TiltUp_g01_c01.avi"
    ds = ClipDataset([VideoEntry(path, 10)], 4, 3, SIZE, random_start=True, clips_per_video=20)
    assert max(ds.start_of(i) for i in range(len(ds))) <= 0  # span 10 fits only at 0
