"""Any file name the OS and FFmpeg accept works, or is skipped with one line and counted (issue: names a
file system accepts are the user's business; a dangling symbolic link is warned about and counted)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from vfp.data.cache import cache_path
from vfp.data.clips import ClipDataset
from vfp.data.motion import motion_filter
from vfp.data.sources import mirror_folder
from vfp.data.splits import make_splits, read_split
from vfp.data.video import VideoEntry
from vfp.gif import write_gif_pair

LONG = "x" * 240 + ".avi"
WORKS = ["with space.avi", "ünïcødé.avi", "-dash.avi", "#hash;$x'q\".avi", LONG, "back\\slash.avi",
         "trail .avi", "v.AVI", "a.b.c.avi"]
SKIPPED = {"tab\there.avi": "'\\t'", "new\nline.avi": "'\\n'", " lead.avi": "starts or ends with a space"}
NOT_UTF8 = b"\xff\xfebad.avi"


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory, write_video, moving_frames) -> Path:
    work = tmp_path_factory.mktemp("names")
    base = write_video(work / "base.avi", moving_frames(16, 48, 64))
    folder = work / "videos"
    for cls in ("Walk", "Run"):
        (folder / cls).mkdir(parents=True)
        for name in [*WORKS, *SKIPPED]:
            shutil.copy(base, folder / cls / name)
        shutil.copy(base, os.fsdecode(os.fsencode(folder / cls) + b"/" + NOT_UTF8))
        os.symlink(folder / cls / "nowhere.avi", folder / cls / "dangling.avi")
    return folder


@pytest.fixture(scope="module")
def odd_pipeline(odd_folder, tmp_path_factory):
    work = tmp_path_factory.mktemp("names_work")
    summary = mirror_folder(odd_folder, work / "raw")
    motion = motion_filter(work / "raw", work / "motion.json", size=32, frames=4, mode="absolute", threshold=0.0)
    make_splits(work / "raw", work / "motion.json", work / "split", official=1, val_fraction=0.2, seed=0)
    return work, summary, motion


def test_odd_names_go_through_download_motion_and_split(odd_pipeline, capfd):
    work, summary, motion = odd_pipeline
    assert summary["videos"] == 2 * len(WORKS) and summary["skipped"] == 2 * (len(SKIPPED) + 2)
    assert motion["n_skipped"] == 0 and len(motion["videos"]) == 2 * len(WORKS)
    listed = sorted(e.path.name for name in ("train", "val", "test") for e in read_split(work / "split", name))
    assert listed == sorted(WORKS * 2)


def test_unlistable_names_and_dangling_links_are_one_line_each(odd_folder, tmp_path, capfd):
    capfd.readouterr()
    summary = mirror_folder(odd_folder, tmp_path / "raw")
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == summary["skipped"] == 2 * (len(SKIPPED) + 2)
    assert all(ln.startswith("warning: skipping ") for ln in lines)
    for reason in [*SKIPPED.values(), "not UTF-8", "dangling symbolic link"]:
        assert sum(reason in ln for ln in lines) == 2, reason  # one per class folder


def test_dangling_link_in_data_root_is_counted_by_the_motion_filter(odd_pipeline, tmp_path, capfd):
    work = odd_pipeline[0]
    root = tmp_path / "raw"
    shutil.copytree(work / "raw", root, symlinks=True)
    os.symlink(root / "Walk" / "gone.avi", root / "Walk" / "link.avi")
    capfd.readouterr()
    result = motion_filter(root, tmp_path / "motion.json", size=32, frames=4, mode="absolute", threshold=0.0)
    assert result["n_skipped"] == 1 and "dangling symbolic link" in result["skipped"][0]["reason"]
    assert sum("link.avi" in ln for ln in capfd.readouterr().err.splitlines()) == 1


def test_odd_names_read_through_the_cache_with_short_file_names(odd_pipeline, tmp_path):
    entries = read_split(odd_pipeline[0] / "split", "train")
    data = ClipDataset(entries, n_frames=4, interval=2, size=(32, 32), cache_dir=tmp_path)
    assert len(data.videos) == len(entries)
    for i in range(len(data)):
        assert data[i]["frames"].shape == (4, 3, 32, 32)
    long_entry = VideoEntry(odd_pipeline[0] / "raw" / "Walk" / LONG, 16)
    assert len(cache_path(long_entry, tmp_path, (32, 32)).name) < 64


def test_gif_of_a_long_video_name_fits_the_file_system(tmp_path):
    frames = torch.zeros(2, 3, 8, 8)
    stem = Path(LONG).stem + "ü" * 20
    expected, generated = write_gif_pair(frames, frames, frames, tmp_path, stem)
    assert expected.is_file() and generated.is_file()
    assert len(expected.name.encode()) < 255 and expected.name.startswith("x" * 100)
    other = write_gif_pair(frames, frames, frames, tmp_path, stem[:-1] + "y")[0]
    assert other != expected and other.is_file()  # another long name: another file
