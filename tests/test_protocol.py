"""evaluate.protocol / size / every: the preset, explicit overrides, video selection, full-frame evaluation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vfp.config import EVAL_PROTOCOLS, ConfigError
from vfp.data.video import probe
from vfp.errors import VfpError
from vfp.evaluation import evaluate
from vfp.modelio import save_trained
from vfp.models.params import parse_model_config
from vfp.models.registry import build_model
from vfp.testset import check_model_size, select_videos


def cfg_with(evaluate: dict, **extra):
    return parse_model_config({"model": "autoencoder", "evaluate": evaluate, **extra})


def test_mathieu_preset_sets_every_key_and_explicit_keys_override():
    preset = EVAL_PROTOCOLS["mathieu"]
    assert set(preset) == {"size", "context", "horizon", "mask", "every", "skip_above_db"}
    ev = cfg_with({"protocol": "mathieu"}).evaluate
    assert (ev.size, ev.context, ev.horizon, ev.mask, ev.every, ev.skip_above_db) == ("source", 4, 2, "flow", 10, 50.0)
    ev = cfg_with({"protocol": "mathieu", "horizon": 3, "every": 1, "size": [64, 64], "mask": None}).evaluate
    assert (ev.horizon, ev.every, ev.size, ev.mask, ev.skip_above_db) == (3, 1, (64, 64), "flow", 50.0)
    ev = cfg_with({"horizon": None, "size": None}).evaluate  # no protocol: null means the default
    assert (ev.horizon, ev.size, ev.mask, ev.every, ev.skip_above_db) == (4, "train", "difference", 1, 0.0)


def test_the_shipped_params_file_takes_the_preset(tmp_path):
    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["evaluate"]["protocol"] = "mathieu"
    ev = parse_model_config(raw).evaluate
    assert (ev.size, ev.horizon, ev.mask, ev.every, ev.skip_above_db) == ("source", 2, "flow", 10, 50.0)


@pytest.mark.parametrize("bad, match", [
    ({"protocol": "paper"}, "evaluate.protocol must be one of none, mathieu"),
    ({"size": "full"}, "evaluate.size must be train, source or a list of 2 values"),
    ({"size": [8, 8]}, "evaluate.size must be train, source or"),
    ({"mask": "optical"}, "evaluate.mask must be one of difference, flow"),
    ({"every": 0}, "evaluate.every must be >= 1"),
    ({"skip_above_db": -1}, "evaluate.skip_above_db must be >= 0"),
    ({"context": 1}, "evaluate.context must be >= 2"),
    ({"ssim": "y"}, "evaluate.ssim must be one of rgb, luma"),
])
def test_bad_values_are_one_line_errors(bad, match):
    with pytest.raises(ConfigError, match=match) as err:
        cfg_with(bad)
    assert "\n" not in str(err.value)


def test_every_takes_exactly_every_kth_video():
    videos = [f"v{i:02d}" for i in range(25)]
    assert select_videos(videos, 10) == ["v00", "v10", "v20"]
    assert select_videos(videos, 1) == videos
    assert select_videos(videos, 30) == ["v00"]


def test_a_size_the_model_cannot_run_is_refused_in_one_line():
    model = build_model("autoencoder", features=[4, 8, 16], n_input=1)  # stride 4
    check_model_size(model, (240, 320), "autoencoder")
    with pytest.raises(VfpError,
                       match=r"evaluate.size \[30, 40\]: autoencoder needs H and W divisible by its stride 4"):
        check_model_size(model, (30, 40), "autoencoder")


def frames_240x320(n: int, seed: int) -> np.ndarray:
    yy, xx = np.mgrid[0:240, 0:320]
    out = np.zeros((n, 240, 320, 3), np.uint8)
    for t in range(n):
        out[t, ..., 0] = ((xx + (2 + seed) * t) % 64) * 4
        out[t, ..., 1] = ((yy + 3 * t) % 32) * 8
        out[t, ..., 2] = ((xx + yy) % 16) * 16
    return out


@pytest.fixture(scope="module")
def full_frame_split(tmp_path_factory, write_video) -> Path:
    root = tmp_path_factory.mktemp("fullframe")
    lines = []
    for i in range(3):
        path = write_video(root / "raw" / "Pan" / f"v_Pan_g0{i + 1}_c01.avi", frames_240x320(8, i))
        lines.append(f"{path}\t{probe(path)}\n")
    (root / "split").mkdir()
    (root / "split" / "test.txt").write_text("".join(lines))
    return root


@pytest.mark.parametrize("model, net, train", [
    ("autoencoder", {"n_input": 1, "features": [4, 8], "residual": True}, {}),
    # the GAN's generator is the same network whether trained on 64x64 frames or 32x32 crops (train.crop
    # changes the data, not the weights' shapes): fully convolutional, it runs on the 240x320 frames
    ("multiscale_gan", {"n_input": 4}, {}),
])
def test_model_trained_at_64_evaluates_full_frame(full_frame_split, tmp_path, model, net, train):
    save_trained(tmp_path / "model.pt", model, net, build_model(model, **net), n_output=1,
                 extra={"size": [64, 64]})
    cfg = parse_model_config({"model": model, model: {"net": net},
                        "data": {"size": [64, 64], "interval": 1, "cache": str(tmp_path / "cache")},
                        "train": {"num_workers": 0, "device": "cpu", **train},
                        "evaluate": {"size": "source", "horizon": 2, "every": 2, "mask": "flow", "gifs": 1,
                                     "skip_above_db": 50.0}})
    kw = dict(model_path=tmp_path / "model.pt", split_dir=full_frame_split / "split",
              metrics_path=tmp_path / "m.json", per_step_path=tmp_path / "p.csv", report_dir=tmp_path / "r",
              logs_dir=tmp_path / "none")
    lines: list[str] = []
    flat = evaluate(cfg, log=lines.append, **kw)
    assert (flat["eval_height"], flat["eval_width"]) == (240, 320)
    assert flat["n_clips"] == 2  # every 2nd of 3 test videos: the 1st and the 3rd
    for key in ("psnr_t1", "copy_last_psnr_t2", "flow_psnr_t1", "psnr_moving_t1", "psnr_gain_flow_t1"):
        assert flat[key] is not None, key
    assert "computed in" in lines[0]
    again: list[str] = []
    assert evaluate(cfg, log=again.append, **kw) == flat  # the baselines come from the cache: same numbers
    assert "reused from" in again[0]
