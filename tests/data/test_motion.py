"""Motion filter: drops the near-static sample classes, keeps the moving ones; quantile mode; motion.json."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vfp.data.motion import motion_filter, select_classes, video_motion
from vfp.data.video import list_videos
from vfp.errors import VfpError


def test_drops_static_keeps_moving(sample_motion, sample_info):
    _, result = sample_motion
    assert result["kept"] == sorted(sample_info["moving"])
    assert result["dropped"] == sorted(sample_info["static"])
    scores = result["classes"]
    assert min(scores[c] for c in sample_info["moving"]) > 1.0 > max(scores[c] for c in sample_info["static"])


def test_motion_json_content(sample_motion, sample_root, sample_info):
    path, result = sample_motion
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert on_disk["mode"] == "absolute" and on_disk["threshold"] == 1.0
    rels = {p.relative_to(sample_root).as_posix() for p in list_videos(sample_root)}
    assert set(on_disk["videos"]) == rels  # every video scored, keyed by <Class>/<file>
    for rel, info in on_disk["videos"].items():
        assert info["n_frames"] == sample_info["frames"], rel
        assert isinstance(info["score"], float) and info["score"] >= 0
    assert on_disk["skipped"] == [] and on_disk["n_skipped"] == 0
    # class score = mean of its videos' scores
    for cls, score in on_disk["classes"].items():
        mine = [v["score"] for r, v in on_disk["videos"].items() if r.startswith(cls + "/")]
        assert score == pytest.approx(np.mean(mine), abs=1e-3)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_quantile_mode_on_sample(sample_root, tmp_path, sample_info):
    # 5 classes; the lowest 40% are the two static ones
    result = motion_filter(sample_root, tmp_path / "m.json", size=32, frames=8, mode="quantile", threshold=0.4)
    assert result["mode"] == "quantile"
    assert result["dropped"] == sorted(sample_info["static"])
    assert result["kept"] == sorted(sample_info["moving"])


def test_select_classes_quantile_and_absolute():
    scores = {"a": 0.1, "b": 2.0, "c": 3.0, "d": 4.0, "e": 10.0}
    assert select_classes(scores, "quantile", 0.0) == (sorted(scores), [])
    assert select_classes(scores, "quantile", 0.5) == (["c", "d", "e"], ["a", "b"])
    assert select_classes(scores, "quantile", 0.2) == (["b", "c", "d", "e"], ["a"])
    assert select_classes(scores, "absolute", 2.5) == (["c", "d", "e"], ["a", "b"])
    assert select_classes(scores, "absolute", 0.0) == (sorted(scores), [])


def test_video_motion_constant_video_scores_near_zero(tmp_path, write_video):
    frames = np.full((10, 48, 64, 3), 120, dtype=np.uint8)
    path = write_video(tmp_path / "C" / "v_C_g01_c01.avi", frames)
    assert video_motion(path, 10, pairs=8, size=16) < 0.5


def test_threshold_dropping_everything_is_a_clear_error(sample_root, tmp_path):
    with pytest.raises(VfpError, match="dropped every class") as err:
        motion_filter(sample_root, tmp_path / "m.json", size=16, frames=4, mode="absolute", threshold=1e6)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "m.json").exists()
