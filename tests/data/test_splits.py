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
