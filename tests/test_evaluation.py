"""vfp.evaluation: model vs copy-last on a tiny test split (real AVI files, 32x32 frames, CPU)."""
from __future__ import annotations

import csv
import json
import math
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from vfp.config import ConfigError
from vfp.data.video import probe
from vfp.errors import VfpError
from vfp.evaluation import evaluate, rebuild_report
from vfp.metrics import METRIC_NAMES
from vfp.modelio import save_trained
from vfp.models.params import parse_model_config
from vfp.models.registry import build_model
from vfp.runs import read_loss_history, read_per_step_csv
from vfp.testset import MIN_CONTEXT

HORIZON = 3
GIFS = 2
AE_NET = {"n_input": 2, "features": [4, 8], "residual": False}  # non-residual: differs from copy-last untrained


def moving_frames(n: int, seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    """uint8 [n, h, w, 3]: diagonal stripes panning at a per-video speed (every frame differs)."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        frames[t, ..., 0] = ((xx + (3 + seed) * t) % 32) * 8
        frames[t, ..., 1] = ((yy * 2 + 5 * t + 7 * seed) % 64) * 4
        frames[t, ..., 2] = ((xx + yy + 2 * t) % 16) * 16
    return frames




def tiny_cfg(model: str, **evaluate_overrides):
    ev = {"horizon": HORIZON, "batch_size": 2, "gifs": GIFS, **evaluate_overrides}
    return parse_model_config({
        "model": model,
        "data": {"size": [32, 32], "interval": 1, "cache": ""},
        "train": {"num_workers": 0, "device": "cpu"},
        "evaluate": ev,
        "autoencoder": {"net": AE_NET},
    })


@pytest.fixture(scope="module")
def project(tmp_path_factory, write_video) -> Path:
    """A folder with data/split/test.txt over 3 moving UCF-named videos (12-14 frames)."""
    root = tmp_path_factory.mktemp("project")
    lines = []
    for i, (cls, n) in enumerate((("PanLeft", 12), ("PanLeft", 13), ("TiltUp", 14))):
        path = write_video(root / "raw" / cls / f"v_{cls}_g0{i + 1}_c01.avi", moving_frames(n, i))
        lines.append(f"{path}\t{probe(path)}\n")
    (root / "data" / "split").mkdir(parents=True)
    (root / "data" / "split" / "test.txt").write_text("".join(lines))
    ae = build_model("autoencoder", **AE_NET)
    (root / "models" / "autoencoder").mkdir(parents=True)
    save_trained(root / "models" / "autoencoder" / "model.pt", "autoencoder", AE_NET, ae, n_output=1)
    logs = root / "models" / "autoencoder" / "logs"
    logs.mkdir()
    (logs / "train_epoch.csv").write_text("epoch,loss\n1,0.5\n2,0.25\n3,0.125\n")
    return root


def run_eval(root: Path, model: str, tag: str, **kw) -> tuple[dict, Path]:
    cfg = tiny_cfg(model)
    out = root / tag
    flat = evaluate(cfg, model_path=root / "models" / model / "model.pt", split_dir=root / "data" / "split",
                    metrics_path=out / "metrics.json", per_step_path=out / "per_step.csv",
                    report_dir=out / "report", logs_dir=root / "models" / model / "logs", **kw)
    return flat, out


@pytest.fixture(scope="module")
def copy_run(project):
    return run_eval(project, "copy_last", "copy")


@pytest.fixture(scope="module")
def ae_run(project):
    return run_eval(project, "autoencoder", "ae")


def expected_keys(horizon: int) -> set[str]:
    keys = {"n_clips", "n_clips_unreadable", "eval_height", "eval_width", "eval_sizes"}
    for m in METRIC_NAMES:
        for prefix, suffix in ((m, ""), (f"copy_last_{m}", ""), (f"flow_{m}", ""), (m, "_gain"), (m, "_gain_flow")):
            base = f"{prefix}{suffix}" if suffix else prefix
            keys.update(f"{base}_t{k}" for k in range(1, horizon + 1))
            keys.add(f"{base}_mean")
    return keys


def gif_durations(path: Path) -> list[int]:
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(int(im.info.get("duration", 0)))
        return out


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)


def test_copy_last_metrics_equal_baseline(copy_run):
    flat, out = copy_run
    written = json.loads((out / "metrics.json").read_text())
    assert written == flat
    assert set(flat) == expected_keys(HORIZON)
    assert flat["n_clips"] == 3 and (flat["eval_height"], flat["eval_width"]) == (32, 32)
    for m in METRIC_NAMES:
        for suffix in [f"_t{k}" for k in range(1, HORIZON + 1)] + ["_mean"]:
            assert flat[f"{m}{suffix}"] == flat[f"copy_last_{m}{suffix}"]
            gain = flat[f"{m}_gain{suffix}"]
            assert gain is None or gain == 0.0
    # moving content: copy-last is imperfect and gets worse with the horizon
    assert 5 < flat["psnr_t1"] < 60 and flat["psnr_t1"] >= flat["psnr_t3"] - 1.0
    assert flat["psnr_moving_t1"] is not None
    # and both equal copy-last computed here, independently: last context frame vs each target, numpy
    # PSNR of the MSE over all clips (the dataset's PSNR, as vfp.metrics defines it)
    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split

    project = out.parent
    clips = ClipDataset(read_split(project / "data" / "split", "test"), MIN_CONTEXT + HORIZON, 1, (32, 32))
    mse = np.zeros(HORIZON)
    for i in range(len(clips)):
        px = ((clips[i]["frames"].numpy() + 1.0) * 127.5).clip(0, 255).astype(np.float64)
        for k in range(HORIZON):
            mse[k] += np.mean((px[MIN_CONTEXT - 1] - px[MIN_CONTEXT + k]) ** 2) / len(clips)
    psnr = 10 * np.log10(255.0**2 / mse)
    for k in range(HORIZON):
        assert flat[f"psnr_t{k + 1}"] == pytest.approx(psnr[k], abs=2e-3)
        assert flat[f"copy_last_psnr_t{k + 1}"] == pytest.approx(psnr[k], abs=2e-3)


def test_per_step_csv_rows(copy_run):
    _, out = copy_run
    with (out / "per_step.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, HORIZON + 1))
    for col in ("psnr", "copy_last_psnr", "psnr_gain", "ssim", "copy_last_ssim", "ssim_gain"):
        assert col in rows[0]
    steps = read_per_step_csv(out / "per_step.csv")
    assert set(steps["model"]) == set(METRIC_NAMES)
    assert len(steps["model"]["psnr"]) == HORIZON


def test_gifs_follow_study_naming_one_video_per_class(copy_run):
    _, out = copy_run
    gifs = sorted(p.name for p in (out / "report" / "gifs").iterdir())
    # the first test video of each class in turn: two pairs of two classes (split order: PanLeft first)
    stems = sorted({name.rsplit("_", 2)[0] for name in gifs})
    assert gifs == sorted(f"{stem}_{kind}_large.gif" for stem in stems for kind in ("expected", "generated"))
    assert len(stems) == GIFS and len({stem.split("_")[1] for stem in stems}) == GIFS, stems
    assert "v_PanLeft_g01_c01" in stems
    n = MIN_CONTEXT + HORIZON  # n_ctx = max(n_input, MIN_CONTEXT) context frames, then the horizon
    expected = out / "report" / "gifs" / "v_PanLeft_g01_c01_expected_large.gif"
    generated = out / "report" / "gifs" / "v_PanLeft_g01_c01_generated_large.gif"
    assert len(gif_durations(expected)) == n
    # copy-last repeats one frame; the timeline bar keeps the frames distinct, and the playing time matches
    assert len(gif_durations(generated)) == n
    assert sum(gif_durations(generated)) == sum(gif_durations(expected))
    with Image.open(expected) as im:
        assert im.size[0] == 256 and im.size[1] >= 256  # 32x32 upscaled x8 (+ vfp.gif's timeline bar)


def test_report_references_only_existing_relative_files(copy_run):
    _, out = copy_run
    report = out / "report"
    parser = _Refs()
    parser.feed((report / "index.html").read_text())
    assert parser.refs
    for ref in parser.refs:
        url = urlparse(ref)
        assert not url.scheme and not url.netloc and not ref.startswith("/"), ref
        assert (report / unquote(url.path)).is_file(), ref
    assert sum(r.endswith(".gif") for r in parser.refs) == 2 * GIFS


def test_autoencoder_keys_match_copy_last_values_differ(copy_run, ae_run):
    copy_flat, _ = copy_run
    ae_flat, ae_out = ae_run
    assert set(ae_flat) == set(copy_flat)  # dvc metrics diff lines up
    # same clips, same targets (n_ctx = MIN_CONTEXT for both): the baseline part is identical
    for k in copy_flat:
        if k.startswith(("copy_last_", "flow_")) or k in ("n_clips", "eval_height", "eval_width"):
            assert ae_flat[k] == copy_flat[k], k
    assert ae_flat["psnr_t1"] != copy_flat["psnr_t1"]
    assert ae_flat["psnr_gain_t1"] != 0
    assert math.isclose(ae_flat["psnr_gain_t1"], ae_flat["psnr_t1"] - ae_flat["copy_last_psnr_t1"], abs_tol=2e-4)
    # GIFs show the n_ctx context frames then the horizon; generated plays as long as expected
    gif = ae_out / "report" / "gifs" / "v_PanLeft_g01_c01_expected_large.gif"
    assert len(gif_durations(gif)) == MIN_CONTEXT + HORIZON
    generated = gif.with_name("v_PanLeft_g01_c01_generated_large.gif")
    assert sum(gif_durations(generated)) == sum(gif_durations(gif))
    html = (ae_out / "report" / "index.html").read_text()
    assert "loss.png" in html and (ae_out / "report" / "loss.png").is_file()


def test_rebuild_report_matches_without_model(ae_run, tmp_path):
    _, out = ae_run
    report = out / "report"
    before = (report / "index.html").read_text()
    (report / "index.html").unlink()
    cfg = tiny_cfg("autoencoder")
    path = rebuild_report(cfg, metrics_path=out / "metrics.json", per_step_path=out / "per_step.csv",
                          report_dir=report, logs_dir=out.parent / "models" / "autoencoder" / "logs")
    assert path == report / "index.html"
    assert path.read_text() == before
    with pytest.raises(VfpError, match="not found"):
        rebuild_report(cfg, metrics_path=tmp_path / "none.json", per_step_path=out / "per_step.csv",
                       report_dir=tmp_path / "r")


def test_fewer_gifs_removes_stale_pairs(project, tmp_path):
    cfg = tiny_cfg("copy_last", gifs=1)
    out = project / "copy_stale"
    kw = dict(model_path=project / "none.pt", split_dir=project / "data" / "split", metrics_path=out / "m.json",
              per_step_path=out / "p.csv", report_dir=out / "report", logs_dir=tmp_path)
    evaluate(tiny_cfg("copy_last", gifs=3), **kw)  # copy_last without a model file: built from params
    assert len(list((out / "report" / "gifs").glob("*.gif"))) == 6
    evaluate(cfg, **kw)
    assert sorted(p.name for p in (out / "report" / "gifs").glob("*.gif")) == [
        "v_PanLeft_g01_c01_expected_large.gif", "v_PanLeft_g01_c01_generated_large.gif"]


def test_wrong_model_file_and_short_videos(project, tmp_path):
    cfg = tiny_cfg("autoencoder")
    with pytest.raises(VfpError, match="holds model 'copy_last'"):
        ae_path = tmp_path / "model.pt"
        save_trained(ae_path, "copy_last", {}, build_model("copy_last"), n_output=1)
        evaluate(cfg, model_path=ae_path, split_dir=project / "data" / "split", metrics_path=tmp_path / "m.json",
                 per_step_path=tmp_path / "p.csv", report_dir=tmp_path / "r", logs_dir=tmp_path)
    with pytest.raises(VfpError, match="no test video is long enough"):
        evaluate(tiny_cfg("copy_last", horizon=40), model_path=tmp_path / "none.pt",
                 split_dir=project / "data" / "split", metrics_path=tmp_path / "m.json",
                 per_step_path=tmp_path / "p.csv", report_dir=tmp_path / "r", logs_dir=tmp_path)
    assert not (tmp_path / "m.json").exists()


def test_read_loss_history_csv_and_tsv(tmp_path):
    assert read_loss_history(tmp_path) is None
    (tmp_path / "train_epoch.tsv").write_text("epoch\tloss_g\tloss_d\n1\t0.5\t\n2\t0.4\t0.7\n")
    assert read_loss_history(tmp_path) == [{"epoch": 1, "loss_g": 0.5}, {"epoch": 2, "loss_g": 0.4, "loss_d": 0.7}]


def test_model_with_more_inputs_than_min_context(project, tmp_path):
    net = {"n_input": MIN_CONTEXT + 1, "features": [4, 8], "residual": False}
    save_trained(tmp_path / "model.pt", "autoencoder", net, build_model("autoencoder", **net), n_output=1)
    cfg = parse_model_config({"model": "autoencoder", "data": {"size": [32, 32], "interval": 1, "cache": ""},
                        "train": {"num_workers": 0}, "evaluate": {"horizon": 2, "gifs": 1},
                        "autoencoder": {"net": net}})
    flat = evaluate(cfg, model_path=tmp_path / "model.pt", split_dir=project / "data" / "split",
                    metrics_path=tmp_path / "m.json", per_step_path=tmp_path / "p.csv",
                    report_dir=tmp_path / "r", logs_dir=tmp_path / "none")
    assert flat["n_clips"] == 3 and flat["psnr_t2"] is not None
    gif = tmp_path / "r" / "gifs" / "v_PanLeft_g01_c01_expected_large.gif"
    assert len(gif_durations(gif)) == MIN_CONTEXT + 1 + 2


def test_clips_per_video_scores_more_clips_gifs_one_per_video(project, tmp_path):
    def cfg(clips: int):
        return parse_model_config({"model": "autoencoder", "autoencoder": {"net": AE_NET},
                             "data": {"size": [32, 32], "interval": 1, "cache": str(tmp_path / "cache")},
                             "train": {"num_workers": 0, "device": "cpu"},
                             "evaluate": {"horizon": HORIZON, "batch_size": 4, "gifs": 3, "clips_per_video": clips}})

    def run(clips: int, lines: list[str]) -> dict:
        out = tmp_path / f"clips{clips}"
        return evaluate(cfg(clips), model_path=project / "models" / "autoencoder" / "model.pt",
                        split_dir=project / "data" / "split", metrics_path=out / "m.json", per_step_path=out / "p.csv",
                        report_dir=out / "report", logs_dir=tmp_path / "none", log=lines.append)

    one_log: list[str] = []
    three_log: list[str] = []
    one, three = run(1, one_log), run(3, three_log)
    assert (one["n_clips"], three["n_clips"]) == (3, 9)
    assert "computed in" in three_log[0]  # the baseline cache key holds clips_per_video: not the 1-clip cache
    assert three["copy_last_psnr_t1"] != one["copy_last_psnr_t1"]  # other starts, other numbers
    gifs = sorted(p.name for p in (tmp_path / "clips3" / "report" / "gifs").glob("*_expected_large.gif"))
    assert gifs == ["v_PanLeft_g01_c01_expected_large.gif", "v_PanLeft_g02_c01_expected_large.gif",
                    "v_TiltUp_g03_c01_expected_large.gif"]  # the first clip of each video, not 3 of the first
    with pytest.raises(ConfigError, match="evaluate.clips_per_video must be >= 1"):
        cfg(0)
