"""Splits: by group, val carved by group, official split number, case-insensitive lists, summary counts."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from vfp.data.layout import group_of
from vfp.data.splits import carve_val, make_splits, read_split
from vfp.errors import VfpError

GROUP = re.compile(r"_g(\d\d)_c\d\d$")


def _lists(split_dir: Path) -> dict[str, list]:
    return {name: read_split(split_dir, name) for name in ("train", "val", "test")}


def _groups(entries) -> set[str]:
    return {group_of(f"{e.path.parent.name}/{e.path.name}") for e in entries}


def _group_numbers(entries) -> set[int]:
    return {int(GROUP.search(e.path.stem)[1]) for e in entries}


def test_split1_separates_groups(sample_split, sample_root, sample_info):
    lists = _lists(sample_split)
    train, val, test = (_groups(lists[n]) for n in ("train", "val", "test"))
    assert train and val and test
    assert not train & test and not val & test and not train & val
    assert _group_numbers(lists["test"]) == {1, 2}
    kept = set(sample_info["moving"])
    for name, entries in lists.items():
        for e in entries:
            assert e.path.parent.name in kept, (name, e.path)  # dropped classes left out
            assert e.path.is_file() and e.path.parent.parent == sample_root
            assert e.n_frames == sample_info["frames"]
    # a val group takes all its clips
    val_clips = [e for e in lists["val"]]
    assert len(val_clips) == len(val) * sample_info["clips_per_group"]
    # 4 train groups per class, val fraction 0.2 -> 1 val group per class
    assert len(val) == len(kept)


def test_summary_counts(sample_split, sample_info):
    summary = json.loads((sample_split / "summary.json").read_text())
    lists = _lists(sample_split)
    assert summary["official"] == 1
    assert summary["classes"] == sorted(sample_info["moving"])
    assert summary["counts"] == {n: len(v) for n, v in lists.items()}
    assert summary["groups"] == {n: len(_groups(v)) for n, v in lists.items()}
    # split-list entries of dropped classes are not "missing": every listed file exists and was scored
    assert summary["missing_or_skipped"] == 0
    assert sum(summary["counts"].values()) == len(sample_info["moving"]) * 6 * sample_info["clips_per_group"]


@pytest.mark.parametrize("official, test_groups", [(2, {3, 4}), (3, {5, 6})])
def test_official_number_changes_test_groups(sample_root, sample_motion, tmp_path, official, test_groups):
    out = tmp_path / "split"
    summary = make_splits(sample_root, sample_motion[0], out, official=official, val_fraction=0.2, seed=0)
    lists = _lists(out)
    assert summary["official"] == official
    assert _group_numbers(lists["test"]) == test_groups
    assert not _group_numbers(lists["train"] + lists["val"]) & test_groups


def test_val_fraction_zero_and_seed(sample_root, sample_motion, tmp_path):
    summary = make_splits(sample_root, sample_motion[0], tmp_path / "a", official=1, val_fraction=0.0, seed=0)
    assert summary["counts"]["val"] == 0
    make_splits(sample_root, sample_motion[0], tmp_path / "b", official=1, val_fraction=0.5, seed=0)
    make_splits(sample_root, sample_motion[0], tmp_path / "c", official=1, val_fraction=0.5, seed=0)
    assert (tmp_path / "b" / "val.txt").read_bytes() == (tmp_path / "c" / "val.txt").read_bytes()
    vals = set()
    for seed in range(6):
        out = tmp_path / f"s{seed}"
        make_splits(sample_root, sample_motion[0], out, official=1, val_fraction=0.5, seed=seed)
        vals.add((out / "val.txt").read_text())
        assert not _groups(read_split(out, "val")) & _groups(read_split(out, "train"))
    assert len(vals) > 1  # the seed picks the val groups


def test_carve_val_by_group():
    train = [f"A/v_A_g{g:02d}_c{c:02d}.avi" for g in range(3, 13) for c in (1, 2, 3)]
    keep, val = carve_val(train, 0.3, seed=0)
    assert len(val) == 9 and len(keep) == 21  # 3 of 10 groups, all clips each
    assert not {group_of(r) for r in keep} & {group_of(r) for r in val}
    assert carve_val(train, 0.3, seed=0) == (keep, val)


@pytest.fixture()
def own_copy(sample_root, sample_motion, tmp_path):
    """A private copy of the sample (hard links) plus its motion.json, to edit split lists in."""
    root = tmp_path / "raw"
    shutil.copytree(sample_root, root, copy_function=os.link)
    shutil.rmtree(root / "splits")  # real copies: editing a hard-linked list would edit the shared sample's
    shutil.copytree(sample_root / "splits", root / "splits")
    return root, sample_motion[0]


def test_case_insensitive_list_entries(own_copy, tmp_path, capfd):
    root, motion = own_copy
    train = (root / "splits" / "trainlist01.txt").read_text().splitlines()
    # like UCF-101's lists (HandStandPushups vs the HandstandPushups folder): other case, CRLF
    changed = [line.replace("PanLeft", "panLEFT").replace("TiltUp", "Tiltup") for line in train]
    changed.append("PanRight/v_PanRight_g99_c01.avi 2")  # an entry with no file
    (root / "splits" / "trainlist01.txt").write_text("\r\n".join(changed) + "\r\n")
    summary = make_splits(root, motion, tmp_path / "split", official=1, val_fraction=0.2, seed=0)
    entries = read_split(tmp_path / "split", "train") + read_split(tmp_path / "split", "val")
    assert summary["counts"]["train"] + summary["counts"]["val"] == 3 * 4 * 2
    assert {e.path.parent.name for e in entries} == {"PanLeft", "PanRight", "TiltUp"}  # real names
    assert all(e.path.is_file() for e in entries)
    assert summary["missing_or_skipped"] == 1
    err = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 1 and "1 split-list entries" in err[0]


def test_group_in_train_and_test_is_refused(own_copy, tmp_path):
    root, motion = own_copy
    test = root / "splits" / "testlist01.txt"
    test.write_text(test.read_text() + "PanLeft/v_PanLeft_g03_c01.avi\n")  # g03 is a train group
    with pytest.raises(VfpError, match="groups in both train and test") as err:
        make_splits(root, motion, tmp_path / "split", official=1, val_fraction=0.2, seed=0)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "split").exists()


def test_missing_split_list_is_a_clear_error(own_copy, tmp_path):
    root, motion = own_copy
    (root / "splits" / "testlist02.txt").unlink()
    with pytest.raises(VfpError, match="testlist02.txt: split list not found"):
        make_splits(root, motion, tmp_path / "split", official=2, val_fraction=0.2, seed=0)


def test_read_split_missing_file(tmp_path):
    with pytest.raises(VfpError, match="run the split stage"):
        read_split(tmp_path, "train")


# ---------------------------------------------------------------- temporal split (a few long videos)

from vfp.data.clips import ClipDataset, VideoSegment, clip_indices  # noqa: E402
from vfp.data.splits import temporal_segments  # noqa: E402


@pytest.mark.parametrize("n, gap", [(280, 15), (103, 15), (72, 15), (500, 31), (60, 9)])
def test_temporal_segments_disjoint_ordered_with_gap(n, gap):
    seg = temporal_segments(n, (0.7, 0.1, 0.2), gap, min_len=gap)
    assert "train" in seg and "test" in seg
    ordered = [seg[k] for k in ("train", "val", "test") if k in seg]
    assert ordered[0][0] == 0 and ordered[-1][1] == n
    for (a0, a1), (b0, b1) in zip(ordered, ordered[1:]):
        assert b0 - a1 >= gap  # the gap between consecutive segments
    for a0, a1 in ordered:
        assert a1 - a0 >= gap  # every segment holds at least one clip span


def test_temporal_segments_fractions_and_short_videos():
    seg = temporal_segments(1030, (0.7, 0.1, 0.2), 15, min_len=15)
    assert seg == {"train": (0, 700), "val": (715, 815), "test": (830, 1030)}
    assert "val" not in temporal_segments(72, (0.7, 0.1, 0.2), 15, min_len=15)  # too short for 3 segments
    assert temporal_segments(40, (0.7, 0.1, 0.2), 15, min_len=15) == {"train": (0, 40)}


def _motion_json(path: Path, videos: dict[str, int], kept: list[str]) -> Path:
    path.write_text(json.dumps({"kept": kept, "videos": {r: {"n_frames": n} for r, n in videos.items()}}))
    return path


def test_temporal_split_lists_share_no_frame(tmp_path):
    videos = {"a/a.mp4": 280, "b/b.avi": 103, "c/c.mp4": 72}
    motion = _motion_json(tmp_path / "motion.json", videos, ["a", "b", "c"])
    summary = make_splits(tmp_path / "raw", motion, tmp_path / "split", official=1, val_fraction=0.2, seed=0,
                          mode="auto", gap=15)  # no official lists needed: every class has 1 group
    assert summary["temporal_classes"] == ["a", "b", "c"] and summary["gap"] == 15
    assert summary["counts"] == {"train": 3, "val": 2, "test": 3}
    used: dict[str, dict[str, set[int]]] = {}
    for name in ("train", "val", "test"):
        for e in read_split(tmp_path / "split", name):
            assert isinstance(e, VideoSegment) and e.n_frames == videos[f"{e.path.parent.name}/{e.path.name}"]
            used.setdefault(e.path.name, {})[name] = set(range(e.start, e.stop))
    for video, parts in used.items():
        names = sorted(parts)
        for i, x in enumerate(names):
            for y in names[i + 1:]:
                assert not parts[x] & parts[y], (video, x, y)
                assert min(abs(p - q) for p in parts[x] for q in parts[y]) > 15  # gap respected
    # the test segment is the end of every video (the future of its training part)
    assert all(max(p["test"]) == videos[f"{v.split('.')[0]}/{v}"] - 1 for v, p in used.items())


def test_clips_of_a_segment_stay_inside_it(tmp_path):
    seg = VideoSegment(tmp_path / "a" / "a.mp4", 280, 230, 280)
    ds = ClipDataset([seg], 8, 2, (32, 32), starts="all")
    assert len(ds) == 50 - 15 + 1
    for i in range(len(ds)):
        v, start = ds.locate(i)
        idx = clip_indices(start, 8, 2)
        assert idx[0] >= 230 and idx[-1] <= 279
    spaced = ClipDataset([seg], 8, 2, (32, 32), clips_per_video=3)
    assert all(230 <= spaced.start_of(i) <= 280 - 15 for i in range(3))
    assert seg.stem == "a_f0230-0279"


def test_group_mode_and_auto_choose_by_groups(sample_root, sample_motion, tmp_path):
    auto = make_splits(sample_root, sample_motion[0], tmp_path / "auto", official=1, val_fraction=0.2, seed=0)
    assert auto["temporal_classes"] == []  # 6 groups per class: by group, as before
    temporal = make_splits(sample_root, sample_motion[0], tmp_path / "t", official=1, val_fraction=0.2, seed=0,
                           mode="temporal", gap=3, min_len=7)
    assert temporal["temporal_classes"] == auto["classes"]
    assert temporal["counts"]["test"] == sum(auto["counts"].values())  # every video has a test segment
    with pytest.raises(VfpError, match="split.fractions"):
        make_splits(sample_root, sample_motion[0], tmp_path / "x", official=1, val_fraction=0.2, seed=0,
                    mode="temporal", fractions=(0.7, 0.3, 0.0))


def test_bad_split_line_is_one_line_error(tmp_path):
    (tmp_path / "train.txt").write_text("a.mp4\t10\t3\n")
    with pytest.raises(VfpError, match="bad line") as err:
        read_split(tmp_path, "train")
    assert "\n" not in str(err.value)
