"""Training at the videos' own size: native crops (one window per clip, inside the frame), random temporal
strides, the native frame cache, the one-line refusals, and built-in models at full UCF-101 frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vfp.config import ConfigError
from vfp.data import jpegcache
from vfp.data.cache import build_cache, cache_path, cached_clip
from vfp.data.clips import ClipDataset
from vfp.data.loaders import train_val_datasets
from vfp.data.video import VideoEntry, probe, read_frames
from vfp.errors import VfpError
from vfp.frames import to_uint8
from vfp.models.base import predictor_from_config
from vfp.models.params import parse_model_config
from vfp.models.contract import predict_any_size

CROP, T, INTERVAL = 24, 4, 2
SIZES = [(48, 80), (64, 96)]  # two videos of different native sizes


@pytest.fixture(scope="module")
def native_videos(tmp_path_factory, write_video, moving_frames):
    root = tmp_path_factory.mktemp("native")
    entries = []
    for k, (h, w) in enumerate(SIZES):  # a texture moving 3 px a frame: every frame and every window differs
        path = write_video(root / "Move" / f"v_Move_g01_c{k:02d}.avi", moving_frames(30, h, w, dx=3, dy=1, seed=k))
        entries.append(VideoEntry(path, probe(path)))
    return entries


def _pixels(frames: torch.Tensor) -> np.ndarray:
    return to_uint8(frames).permute(0, 2, 3, 1).numpy()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)))


def _split_lists(videos, tmp_path):
    """A split folder whose train and val lists both hold ``videos``."""
    split = tmp_path / "split"
    split.mkdir()
    for name in ("train", "val"):
        (split / f"{name}.txt").write_text("".join(f"{v.path}\t{v.n_frames}\n" for v in videos))
    return split


@pytest.mark.parametrize("cached", [False, True])
def test_native_crop_is_one_window_inside_every_frame(native_videos, tmp_path, cached):
    ds = ClipDataset(native_videos, T, INTERVAL, None, starts="all", crop=(CROP, CROP), seed=3,
                     cache_dir=tmp_path / "cache" if cached else None)
    windows = set()
    for item in range(0, len(ds), 3):
        v, indices = ds.frame_indices(item)
        full = read_frames(native_videos[v].path, indices, None)  # the frames at the video's own size
        assert full.shape[1:3] == SIZES[v]
        y, x = ds.window(full.shape[1:3], item)
        assert 0 <= y <= SIZES[v][0] - CROP and 0 <= x <= SIZES[v][1] - CROP
        got = _pixels(ds[item]["frames"])
        assert got.shape == (T, CROP, CROP, 3)
        want = full[:, y:y + CROP, x:x + CROP]  # the same window in every frame
        if cached:  # the JPEG entry: close to the decoded frames, and closer than a one-pixel shift
            assert _psnr(got, want) > 36 and _psnr(got, want) > _psnr(got, full[:, y:y + CROP, x + 1:x + 1 + CROP]) + 10
        else:
            np.testing.assert_array_equal(got, want)
        windows.add((v, y, x))
    assert len(windows) > 3  # drawn per clip, not one fixed place


def test_center_crop(native_videos):
    ds = ClipDataset(native_videos, T, INTERVAL, None, crop=(48, 80), crop_at="center")
    v, indices = ds.frame_indices(1)
    full = read_frames(native_videos[v].path, indices, None)
    np.testing.assert_array_equal(_pixels(ds[1]["frames"]), full[:, 8:56, 8:88])  # middle of 64x96


def test_native_cache_holds_each_video_once_at_its_own_size_as_jpeg(native_videos, tmp_path):
    summary = build_cache(native_videos, tmp_path, None, workers=1)
    assert summary["decoded"] == 2
    for video, size in zip(native_videos, SIZES):
        path = cache_path(video, tmp_path, None)
        assert path.parent.parent.name == "source" and path.suffix == ".jpgs"
        entry = jpegcache.load_entry(path, video.n_frames)
        assert entry is not None and entry.shape == (video.n_frames, *size, 3)
        frames, bad = entry.read(np.arange(video.n_frames))
        assert not bad and _psnr(frames, read_frames(video.path, np.arange(video.n_frames), None)) > 36
    raw = sum(e.n_frames * h * w * 3 for e, (h, w) in zip(native_videos, SIZES))
    assert 0 < summary["bytes"] < raw / 2  # compressed (this noise texture 2.4x; real frames 8-9x)
    assert build_cache(native_videos, tmp_path, None, workers=1)["already"] == 2


def test_damaged_or_cut_native_entry_is_reported_and_rebuilt(native_videos, tmp_path, capfd):
    video = native_videos[0]
    build_cache([video], tmp_path, None, workers=1)
    path, every = cache_path(video, tmp_path, None), np.arange(video.n_frames)
    entry = jpegcache.load_entry(path, video.n_frames)
    good, _ = entry.read(every)
    data = bytearray(path.read_bytes())
    start = entry.start + int(entry.offsets[5]) + 20  # inside frame 5's JPEG bytes
    data[start:start + 64] = bytes(64)
    path.write_bytes(bytes(data))
    capfd.readouterr()
    np.testing.assert_array_equal(cached_clip(video, tmp_path, None, every), good)
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "damaged (frame 5 fails its checksum)" in lines[0] and str(path) in lines[0]
    path.write_bytes(path.read_bytes()[:-100])  # cut: not trusted, decoded again without a warning
    assert jpegcache.load_entry(path, video.n_frames) is None
    np.testing.assert_array_equal(cached_clip(video, tmp_path, None, every), good)
    assert jpegcache.load_entry(path, video.n_frames) is not None


def test_random_stride_takes_every_k_interval_frame(native_videos):
    ds = ClipDataset(native_videos, T, INTERVAL, (32, 48), random_start=True, clips_per_video=20, steps=(1, 3), seed=1)
    ks = set()
    for item in range(len(ds)):
        v, indices = ds.frame_indices(item)
        steps = np.diff(indices)
        assert len(set(steps)) == 1 and steps[0] % INTERVAL == 0  # one stride per clip, a multiple of interval
        ks.add(int(steps[0]) // INTERVAL)
        assert indices[0] >= 0 and indices[-1] < native_videos[v].n_frames
        if item % 7 == 0:  # the pixels are those frames
            np.testing.assert_array_equal(_pixels(ds[item]["frames"]),
                                          read_frames(native_videos[v].path, indices, (32, 48)))
    assert ks == {1, 2, 3}
    ds.set_epoch(1)  # another epoch draws other strides
    assert [ds.frame_indices(i)[1].tolist() for i in range(10)] != \
        [ClipDataset(native_videos, T, INTERVAL, (32, 48), random_start=True, clips_per_video=20, steps=(1, 3),
                     seed=1).frame_indices(i)[1].tolist() for i in range(10)]


def test_stride_is_lowered_to_what_the_video_holds(native_videos):
    # 30 frames, 6 frames every 2: k = 1 spans 11, 2 spans 21, 3 spans 31 > 30 -> never drawn
    ds = ClipDataset(native_videos, 6, INTERVAL, (32, 48), starts="all", steps=(1, 3), seed=0)
    ks = {int(np.diff(ds.frame_indices(i)[1])[0]) // INTERVAL for i in range(len(ds))}
    assert ks == {1, 2}
    assert all(ds.frame_indices(i)[1][-1] < 30 for i in range(len(ds)))


@pytest.mark.parametrize("raw,key", [
    ({"data": {"size": "source"}}, "train.crop"),
    ({"data": {"size": "source"}, "train": {"crop": 4}}, "train.crop"),
    ({"data": {"size": "native"}, "train": {"crop": 32}}, "data.size"),
    ({"train": {"stride": [3, 1]}}, "train.stride"),
    ({"train": {"stride": [0, 2]}}, "train.stride"),
    ({"train": {"crop": 80}}, "train.crop"),
])
def test_invalid_size_crop_stride_refused_in_one_line(raw, key):
    with pytest.raises(ConfigError) as err:
        parse_model_config(raw)
    assert key in str(err.value) and "\n" not in str(err.value)


def test_native_training_settings_accepted():
    cfg = parse_model_config({"model": "warp", "data": {"size": "source"}, "train": {"crop": 64, "stride": [1, 3]}})
    assert cfg.data.size == "source" and cfg.train.crop == 64 and tuple(cfg.train.stride) == (1, 3)


def test_native_validation_uses_fixed_crop_windows(native_videos, tmp_path):
    split = _split_lists(native_videos, tmp_path)
    cfg = parse_model_config({"model": "warp", "data": {"size": "source", "cache": ""},
                              "train": {"crop": CROP, "stride": [1, 2]}})
    train, val = train_val_datasets(cfg, split, 4, 1)
    assert train.crop == val.crop == (CROP, CROP) and train.steps == (1, 2) and val.steps == (1, 1)
    first, again = [val[i]["frames"] for i in range(3)], [val[i]["frames"] for i in range(3)]
    assert all(item.shape == (4 + cfg.train.val_horizon, 3, CROP, CROP) for item in first)
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # every validation compares the same windows


def test_the_evaluation_protocol_never_changes_the_validation_clips(native_videos, tmp_path):
    """Validation (and so the exported epoch) reads train.val_horizon, never evaluate.*: evaluating the same
    training under evaluate.protocol: mathieu (horizon 2) selects from the same validation clips."""
    split = _split_lists(native_videos, tmp_path)
    raw = {"model": "warp", "data": {"size": "source", "cache": ""}, "train": {"crop": CROP}}
    clips = []
    for evaluate in ({}, {"protocol": "mathieu"}, {"horizon": 1, "batch_size": 3}):
        cfg = parse_model_config({**raw, "evaluate": evaluate})
        _, val = train_val_datasets(cfg, split, 4, 1)
        clips.append(torch.stack([val[i]["frames"] for i in range(len(val))]))
    assert clips[0].shape[1] == 4 + 4 and all(torch.equal(clips[0], other) for other in clips[1:])


@pytest.mark.parametrize("name", ["seq2seq", "autoencoder", "multiscale_gan", "warp", "copy_last"])
def test_built_in_models_run_at_full_ucf_frames_and_at_sizes_off_their_stride(name):
    """Trained on crops, tested at 320x240 or at a video's own size (256x340: 340 is no multiple of 16)."""
    model = predictor_from_config(parse_model_config({"model": name})).eval()  # with its default base
    for size in ((240, 320), (256, 340)):
        context = torch.rand(1, model.n_input, 3, *size) * 2 - 1
        with torch.no_grad():
            out = predict_any_size(model, context, 2)
        assert out.shape == (1, 2, 3, *size) and torch.isfinite(out).all()


def test_a_base_margin_widens_the_training_and_validation_windows(native_videos, tmp_path):
    split = _split_lists(native_videos, tmp_path)
    cfg = parse_model_config({"model": "warp", "data": {"size": "source", "cache": ""},
                              "train": {"crop": CROP, "base_margin": 8}})
    train, val = train_val_datasets(cfg, split, 4, 1, margin=8)
    assert train.crop == val.crop == (CROP + 16, CROP + 16)
    assert train[0]["frames"].shape[-2:] == (CROP + 16, CROP + 16)
