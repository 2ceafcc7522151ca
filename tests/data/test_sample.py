"""The generated sample: exact UCF-101 layout, split-list format, group-separated splits, determinism."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vfp.data.sample import generate_sample
from vfp.data.video import list_videos, read_all

NAME = re.compile(r"^v_(?P<cls>[A-Za-z]+)_g(?P<g>\d\d)_c(?P<c>\d\d)\.avi$")


@pytest.fixture(scope="module")
def info(sample_info):
    return dict(sample_info, classes=sample_info["moving"] + sample_info["static"])


def test_layout_names_and_counts(sample_root, info):
    CLASSES, SAMPLE = info["classes"], info
    folders = sorted(p.name for p in sample_root.iterdir())
    assert folders == sorted(CLASSES + ["splits", ".vfp-data-root"])  # the marker: a root vfp made
    videos = list_videos(sample_root)
    assert len(videos) == len(CLASSES) * SAMPLE["groups"] * SAMPLE["clips_per_group"]
    seen = set()
    for path in videos:
        m = NAME.match(path.name)
        assert m, path.name
        assert m["cls"] == path.parent.name
        assert 1 <= int(m["g"]) <= SAMPLE["groups"] and 1 <= int(m["c"]) <= SAMPLE["clips_per_group"]
        seen.add((m["cls"], int(m["g"]), int(m["c"])))
    assert len(seen) == len(videos)
    assert not list(sample_root.parent.glob("*.tmp")), "temp folder left beside the dataset"


def test_video_format_320x240_25fps_xvid(sample_root, info):
    SAMPLE = info
    import decord

    for path in list_videos(sample_root)[:: SAMPLE["groups"] * SAMPLE["clips_per_group"]]:  # one per class
        head = path.read_bytes()[:4096]
        assert head[:4] == b"RIFF" and head[8:12] == b"AVI "
        assert b"XVID" in head  # fourcc in strh/strf
        reader = decord.VideoReader(str(path))
        assert reader.get_avg_fps() == pytest.approx(25.0)
        assert len(reader) == SAMPLE["frames"]
        assert reader[0].asnumpy().shape == (240, 320, 3)
        del reader


def _read_lines(path: Path) -> list[str]:
    text = path.read_text()
    assert text.endswith("\n") and "\r" not in text
    return text.splitlines()


def test_split_list_format(sample_root, info):
    CLASSES = info["classes"]
    splits = sample_root / "splits"
    assert sorted(p.name for p in splits.iterdir()) == sorted(
        ["classInd.txt"] + [f"{kind}list0{k}.txt" for kind in ("train", "test") for k in (1, 2, 3)])
    class_ind = _read_lines(splits / "classInd.txt")
    labels = {}
    for i, line in enumerate(class_ind, start=1):
        number, name = line.split(" ")
        assert int(number) == i  # 1-based, in order
        labels[name] = i
    assert sorted(labels) == sorted(CLASSES)
    all_videos = {p.relative_to(sample_root).as_posix() for p in list_videos(sample_root)}
    for k in (1, 2, 3):
        train = _read_lines(splits / f"trainlist0{k}.txt")
        test = _read_lines(splits / f"testlist0{k}.txt")
        train_rel = []
        for line in train:
            rel, label = line.split(" ")
            assert int(label) == labels[rel.split("/")[0]]
            train_rel.append(rel)
        for line in test:
            assert " " not in line and line.endswith(".avi")  # no label in test lists
        assert set(train_rel) | set(test) == all_videos
        assert not set(train_rel) & set(test)
        test_groups = {int(NAME.match(Path(r).name)["g"]) for r in test}
        train_groups_by_class = {(r.split("/")[0], int(NAME.match(Path(r).name)["g"])) for r in train_rel}
        test_groups_by_class = {(r.split("/")[0], int(NAME.match(Path(r).name)["g"])) for r in test}
        assert test_groups == {2 * k - 1, 2 * k}
        assert not train_groups_by_class & test_groups_by_class  # split by group, never by clip


@pytest.fixture(scope="module")
def three_samples(tmp_path_factory):
    """Two generations with seed 0 and one with seed 1 (tiny settings)."""
    base = tmp_path_factory.mktemp("determinism")
    small = dict(moving_classes=1, static_classes=1, groups=6, clips_per_group=1, frames=12)
    roots = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        roots[name] = base / name / "raw"
        generate_sample(roots[name], seed=seed, **small)
    return roots


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_identical_lists_frames_and_bytes(three_samples):
    a, b = _files(three_samples["a"]), _files(three_samples["b"])
    assert a.keys() == b.keys()
    for rel in a:
        if rel.startswith("splits/"):
            assert a[rel] == b[rel], rel
    for pa, pb in zip(list_videos(three_samples["a"]), list_videos(three_samples["b"])):
        np.testing.assert_array_equal(read_all(pa, (60, 80)), read_all(pb, (60, 80)))
    # write_avi promises bit-exact files for the same frames
    assert all(a[rel] == b[rel] for rel in a if rel.endswith(".avi"))


def test_other_seed_gives_other_frames(three_samples):
    a, c = list_videos(three_samples["a"]), list_videos(three_samples["c"])
    assert [p.name for p in a] == [p.name for p in c]
    for pa, pc in zip(a, c):
        fa, fc = read_all(pa, (60, 80)), read_all(pc, (60, 80))
        assert np.abs(fa.astype(int) - fc.astype(int)).mean() > 5, pa.name


def test_static_classes_are_near_static_and_moving_ones_move(sample_root, info):
    for cls, moving in [(c, True) for c in info["moving"]] + [(c, False) for c in info["static"]]:
        frames = read_all(sample_root / cls / f"v_{cls}_g01_c01.avi", (60, 80)).astype(float)
        step = np.abs(np.diff(frames, axis=0)).mean()
        assert (step > 5) if moving else (step < 2), (cls, step)
