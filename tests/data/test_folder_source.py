"""Folder source: a <Class>/<video> tree of .mp4 files goes through mirror, motion filter, split, dataset."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from vfp.data.clips import ClipDataset
from vfp.data.layout import group_of
from vfp.data.motion import motion_filter
from vfp.data.sources import mirror_folder
from vfp.data.splits import make_splits, read_split
from vfp.errors import VfpError

N = 20


@pytest.fixture(scope="module")
def mp4_folder(tmp_path_factory, write_video, moving_frames):
    """Walk (moving, libx264) and Sit (static, mpeg4): 4 groups x 1 clip, 96x128, 20 frames."""
    folder = tmp_path_factory.mktemp("folder") / "videos"
    for g in range(1, 5):
        write_video(folder / "Walk" / f"v_Walk_g{g:02d}_c01.mp4", moving_frames(N, 96, 128, dx=4, seed=g),
                    codec="libx264")
        still = np.repeat(moving_frames(1, 96, 128, seed=10 + g), N, axis=0)
        write_video(folder / "Sit" / f"v_Sit_g{g:02d}_c01.mp4", still, codec="mpeg4")
    (folder / "notes.txt").write_text("not a video")
    (folder / "Walk" / "README").write_text("not a video either")
    return folder


@pytest.fixture(scope="module")
def pipeline(mp4_folder, tmp_path_factory):
    work = tmp_path_factory.mktemp("folder_work")
    root = work / "raw"
    summary = mirror_folder(mp4_folder, root)
    motion = motion_filter(root, work / "motion.json", size=32, frames=8, mode="absolute", threshold=1.0)
    split = make_splits(root, work / "motion.json", work / "split", official=1, val_fraction=0.34, seed=0)
    return dict(root=root, summary=summary, motion=motion, split=split, split_dir=work / "split")


def test_mirror_layout_and_generated_lists(pipeline, mp4_folder):
    root = pipeline["root"]
    assert pipeline["summary"] == {"classes": 2, "videos": 8, "official_lists": False, "skipped": 0}
    assert sorted(p.name for p in root.iterdir()) == [".vfp-data-root", "Sit", "Walk", "splits"]
    src = mp4_folder / "Walk" / "v_Walk_g01_c01.mp4"
    dst = root / "Walk" / "v_Walk_g01_c01.mp4"
    assert dst.read_bytes() == src.read_bytes()
    assert os.stat(dst).st_ino == os.stat(src).st_ino  # hard link on the same file system
    assert (root / "splits" / "classInd.txt").read_text() == "1 Sit\n2 Walk\n"
    for k in (1, 2, 3):
        train = [l.split(" ")[0] for l in (root / "splits" / f"trainlist0{k}.txt").read_text().splitlines()]
        test = (root / "splits" / f"testlist0{k}.txt").read_text().splitlines()
        assert len(train) + len(test) == 8 and test
        assert not {group_of(r) for r in train} & {group_of(r) for r in test}


def test_motion_and_split_on_mp4(pipeline):
    motion = pipeline["motion"]
    assert motion["kept"] == ["Walk"] and motion["dropped"] == ["Sit"] and motion["n_skipped"] == 0
    assert all(v["n_frames"] == N for v in motion["videos"].values())
    counts = pipeline["split"]["counts"]
    assert counts == {"train": 2, "val": 1, "test": 1}


def test_clip_dataset_on_mp4(pipeline):
    videos = read_split(pipeline["split_dir"], "train")
    assert all(v.path.suffix == ".mp4" for v in videos)
    ds = ClipDataset(videos, 4, 3, (64, 64), random_start=True, clips_per_video=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)
    batches = list(loader)
    assert len(batches) == 2
    x = batches[0]["frames"]
    assert x.shape == (2, 4, 3, 64, 64) and x.dtype == torch.float32 and -1 <= x.min() < x.max() <= 1
    # the pan moves: consecutive clip frames differ
    assert (x[:, 1:] - x[:, :-1]).abs().mean() > 0.05


def test_official_lists_in_folder_are_used(mp4_folder, tmp_path):
    folder = tmp_path / "with_lists"
    for cls in ("Walk", "Sit"):
        (folder / cls).mkdir(parents=True)
        for p in (mp4_folder / cls).glob("*.mp4"):
            os.link(p, folder / cls / p.name)
    lists = folder / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "trainlist01.txt").write_bytes(b"Walk/v_Walk_g02_c01.mp4 1\r\nWalk/v_Walk_g03_c01.mp4 1\r\n")
    (lists / "testlist01.txt").write_bytes(b"Walk/v_Walk_g01_c01.mp4\r\n")
    summary = mirror_folder(folder, tmp_path / "raw")
    assert summary["official_lists"] is True
    splits = tmp_path / "raw" / "splits"
    assert (splits / "trainlist01.txt").read_bytes() == b"Walk/v_Walk_g02_c01.mp4 1\nWalk/v_Walk_g03_c01.mp4 1\n"
    assert (splits / "classInd.txt").read_text() == "1 Sit\n2 Walk\n"


def test_bad_folder_arguments(tmp_path):
    with pytest.raises(VfpError, match="not a folder"):
        mirror_folder(tmp_path / "nope", tmp_path / "raw")
    (tmp_path / "empty" / "Cls").mkdir(parents=True)
    (tmp_path / "empty" / "Cls" / "a.txt").write_text("x")
    with pytest.raises(VfpError, match="no usable .avi/.mp4") as err:
        mirror_folder(tmp_path / "empty", tmp_path / "raw")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "raw").exists()


def test_flat_folder_each_video_its_own_class_split_in_time(tmp_path, write_video, moving_frames):
    """Videos directly in data.folder: each becomes <stem>/<video>; auto splits them in time."""
    folder = tmp_path / "flat"
    write_video(folder / "street.mp4", moving_frames(60, 48, 64, dx=2, seed=1), codec="libx264")
    write_video(folder / "garden.avi", moving_frames(60, 48, 64, dx=3, seed=2))
    summary = mirror_folder(folder, tmp_path / "raw")
    assert summary["classes"] == 2 and summary["videos"] == 2
    assert (tmp_path / "raw" / "street" / "street.mp4").is_file()
    assert (tmp_path / "raw" / "garden" / "garden.avi").is_file()
    motion_filter(tmp_path / "raw", tmp_path / "motion.json", size=32, frames=8, mode="absolute", threshold=1.0)
    split = make_splits(tmp_path / "raw", tmp_path / "motion.json", tmp_path / "split", official=1,
                        val_fraction=0.2, seed=0, gap=7)
    assert split["temporal_classes"] == ["garden", "street"]
    assert split["counts"] == {"train": 2, "val": 2, "test": 2}
    test = read_split(tmp_path / "split", "test")
    ds = ClipDataset(test, 4, 2, (32, 32), starts="all")
    assert len(ds) > 0 and ds[0]["frames"].shape == (4, 3, 32, 32)


def test_mixed_folder_and_name_clash(tmp_path, write_video, moving_frames):
    folder = tmp_path / "mixed"
    write_video(folder / "Walk" / "v_Walk_g01_c01.mp4", moving_frames(12, 32, 32), codec="libx264")
    write_video(folder / "long_take.mp4", moving_frames(12, 32, 32), codec="libx264")
    assert mirror_folder(folder, tmp_path / "raw")["classes"] == 2
    write_video(folder / "Walk.mp4", moving_frames(12, 32, 32), codec="libx264")
    with pytest.raises(VfpError, match="Walk.mp4 would become class 'Walk'") as err:
        mirror_folder(folder, tmp_path / "raw2")
    assert "\n" not in str(err.value)
