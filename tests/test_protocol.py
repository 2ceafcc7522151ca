"""evaluate.protocol / size / every: the preset, explicit overrides, video selection, full-frame evaluation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vfp.config import EVAL_PROTOCOLS, ConfigError
from vfp.data.video import probe
from vfp.evaluation import evaluate
from vfp.modelio import save_trained
from vfp.models.params import parse_model_config
from vfp.models.registry import build_model
from vfp.results import summary_lines
from vfp.testset import group_batches, select_videos
from vfp.testset import test_set as build_test_set


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


def test_evaluation_at_a_size_off_the_stride_pads_and_crops_back(full_frame_split, tmp_path):
    """62x86 is no multiple of the autoencoder's stride 4: evaluation pads the context, predicts and crops
    back; the untrained residual model is then exactly copy-last at every step (no refusal, no shift)."""
    net = {"n_input": 1, "features": [4, 8, 16], "residual": True}
    save_trained(tmp_path / "model.pt", "autoencoder", net, build_model("autoencoder", **net), n_output=1,
                 extra={"size": [64, 64]})
    cfg = parse_model_config({"model": "autoencoder", "autoencoder": {"net": net, "base": "copy_last"},
                              "data": {"size": [64, 64], "interval": 1, "cache": ""},
                              "train": {"num_workers": 0, "device": "cpu"},
                              "evaluate": {"size": [62, 86], "horizon": 2, "gifs": 0}})
    flat = evaluate(cfg, log=lambda _: None, model_path=tmp_path / "model.pt",
                    split_dir=full_frame_split / "split", metrics_path=tmp_path / "m.json",
                    per_step_path=tmp_path / "p.csv", report_dir=tmp_path / "r", logs_dir=tmp_path / "none")
    assert (flat["eval_height"], flat["eval_width"]) == (62, 86)
    for k in (1, 2):
        assert flat[f"psnr_t{k}"] == pytest.approx(flat[f"copy_last_psnr_t{k}"], abs=1e-6)


def test_group_batches_never_mix_sizes_and_hold_fewer_large_clips():
    assert group_batches([3, 2], [(240, 320), (1080, 1920)], 16) == [[0, 1, 2], [3], [4]]
    assert group_batches([5], [(240, 320)], 2) == [[0, 1], [2, 3], [4]]
    assert group_batches([4], [(480, 640)], 8) == [[0, 1], [2, 3]]  # 4x the pixels: a quarter of the clips


@pytest.fixture(scope="module")
def mixed_size_split(tmp_path_factory, write_video) -> Path:
    """Two test videos, 240x320 and 120x176 (its 176 no multiple of the model's stride 4)."""
    root = tmp_path_factory.mktemp("mixed")
    big = write_video(root / "raw" / "Pan" / "v_Pan_g01_c01.avi", frames_240x320(8, 0))
    small = write_video(root / "raw" / "Pan" / "v_Pan_g02_c01.avi", frames_240x320(8, 1)[:, :120, :176])
    (root / "split").mkdir()
    (root / "split" / "test.txt").write_text("".join(f"{p}\t{probe(p)}\n" for p in (big, small)))
    return root


def test_source_size_scores_every_video_at_its_own_size(mixed_size_split, tmp_path):
    """evaluate.size: source scores each test video at its own size (none is resized to another's): the
    untrained residual model is exactly copy-last on both, and the log names both sizes."""
    net = {"n_input": 1, "features": [4, 8], "residual": True}
    save_trained(tmp_path / "model.pt", "autoencoder", net, build_model("autoencoder", **net), n_output=1,
                 extra={"size": "source"})
    cfg = parse_model_config({"model": "autoencoder", "autoencoder": {"net": net, "base": "copy_last"},
                              "data": {"size": "source", "interval": 1, "cache": ""},
                              "train": {"num_workers": 0, "device": "cpu", "crop": 32},
                              "evaluate": {"size": "source", "horizon": 2, "gifs": 2, "clips_per_video": 2}})
    model = build_model("autoencoder", **net)
    clips = build_test_set(cfg, mixed_size_split / "split", model, num_workers=0, device=torch.device("cpu"))
    seen = {(video, tuple(batch["frames"].shape[-2:])) for batch in clips.loader for video in batch["video"]}
    assert seen == {("v_Pan_g01_c01", (240, 320)), ("v_Pan_g02_c01", (120, 176))}
    lines: list[str] = []
    flat = evaluate(cfg, log=lines.append, model_path=tmp_path / "model.pt", split_dir=mixed_size_split / "split",
                    metrics_path=tmp_path / "m.json", per_step_path=tmp_path / "p.csv", report_dir=tmp_path / "r",
                    logs_dir=tmp_path / "none")
    assert flat["n_clips"] == 4 and (flat["eval_height"], flat["eval_width"], flat["eval_sizes"]) == (240, 320, 2)
    assert "each video's own size (2 sizes, the first 240x320)" in summary_lines(flat, "autoencoder")[2]
    for k in (1, 2):
        assert flat[f"psnr_t{k}"] == pytest.approx(flat[f"copy_last_psnr_t{k}"], abs=1e-6)
    assert "each video's own size (2 sizes, 120x176 to 240x320)" in lines[0]
    assert len(list((tmp_path / "r" / "gifs").glob("*.gif"))) == 4  # a pair per video, each at its size
