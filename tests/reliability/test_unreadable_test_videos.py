"""Test videos that fail to decode at evaluation (issue: one unreadable test video was silently replaced by
another video's clip, counted twice; all test videos unreadable ended in a traceback).

An unreadable test clip is skipped with one line, counted in ``n_clips_unreadable`` and never replaced:
the metrics equal those of the readable videos alone. None readable is one error line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from vfp.errors import VfpError
from vfp.evaluation import evaluate
from vfp.modelio import save_trained
from vfp.models.params import parse_model_config
from vfp.models.registry import build_model

NET = {"n_input": 1, "features": [4, 8], "residual": True}


@pytest.fixture
def videos(tmp_path, write_video, moving_frames) -> list[Path]:
    return [write_video(tmp_path / "raw" / "Pan" / f"v_Pan_g0{i + 1}_c01.avi",
                        moving_frames(8, 32, 32, dx=2 + i, seed=i)) for i in range(3)]


def _split(folder: Path, paths: list[Path]) -> Path:
    folder.mkdir(parents=True)
    (folder / "test.txt").write_text("".join(f"{p}\t8\n" for p in paths))
    return folder


def _evaluate(tmp_path: Path, split: Path, name: str) -> tuple[dict, list[str]]:
    model_file = tmp_path / "model.pt"
    if not model_file.is_file():
        save_trained(model_file, "autoencoder", NET, build_model("autoencoder", **NET), n_output=1,
                     extra={"size": [32, 32]})
    cfg = parse_model_config({"model": "autoencoder", "autoencoder": {"net": NET},
                              "data": {"size": [32, 32], "interval": 1, "cache": str(tmp_path / f"cache-{name}")},
                              "train": {"num_workers": 0, "device": "cpu"},
                              "evaluate": {"horizon": 2, "gifs": 0}})
    lines: list[str] = []
    flat = evaluate(cfg, model_path=model_file, split_dir=split, metrics_path=tmp_path / f"{name}.json",
                    per_step_path=tmp_path / f"{name}.csv", report_dir=tmp_path / f"report-{name}",
                    logs_dir=tmp_path / "none", log=lines.append)
    return flat, lines


def test_one_unreadable_test_video_is_skipped_and_counted_not_replaced(videos, tmp_path, capfd):
    readable, _ = _evaluate(tmp_path, _split(tmp_path / "two", [videos[0], videos[2]]), "two")
    videos[1].write_bytes(b"not a video any more" * 64)  # broken after the split was made
    capfd.readouterr()
    flat, lines = _evaluate(tmp_path, _split(tmp_path / "three", videos), "three")
    err = capfd.readouterr().err
    assert (flat["n_clips"], flat["n_clips_unreadable"]) == (2, 1)
    assert {k: v for k, v in flat.items() if k != "n_clips_unreadable"} == \
        {k: v for k, v in readable.items() if k != "n_clips_unreadable"}  # no other video's clip in its place
    assert "Traceback" not in err
    warned = [ln for ln in err.splitlines() if str(videos[1]) in ln and "video_reader.cc" not in ln]  # decord's own
    assert len(warned) == 1 and "not scored" in warned[0], err
    assert "1 unreadable clips skipped" in lines[0]


def test_all_test_videos_unreadable_is_one_line(videos, tmp_path, capfd):
    for path in videos:
        path.write_bytes(b"\0" * 4096)
    with pytest.raises(VfpError) as err:
        _evaluate(tmp_path, _split(tmp_path / "split", videos), "none")
    message = str(err.value)
    assert "\n" not in message and "none of the 3 test clips could be read" in message
    assert "Traceback" not in capfd.readouterr().err
    assert not (tmp_path / "none.json").exists()
