"""``vfp predict`` and the Python API: outputs by name, both modes, side by side, sizes, one code path."""
from __future__ import annotations

import os
import subprocess
import sys
import types
import weakref
from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from vfp.api import load_model
from vfp.cli import main
from vfp.data.stream import iter_frames
from vfp.modelio import save_trained
from vfp.models.registry import build_model
from vfp.panels import GAP
from vfp.predict import frame_plan

REPO = Path(__file__).resolve().parents[1]
NET = {"n_input": 3, "features": [4, 8], "blend": True}
T, H, W = 20, 40, 56


def decoded(path: Path) -> np.ndarray:
    with av.open(os.fspath(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def files(tmp_path_factory, write_video, moving_frames) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("predict")
    torch.manual_seed(0)
    net = build_model("warp", **NET)
    with torch.no_grad():
        for p in net.parameters():  # the flow heads start at zero (copy-last): move them
            p.add_(0.05 * torch.randn_like(p))
    save_trained(d / "model.pt", "warp", NET, net, n_output=1, extra={"size": [32, 32], "interval": 1})
    return {"model": d / "model.pt", "video": write_video(d / "pan.mp4", moving_frames(T, H, W), codec="libx264"),
            "short": write_video(d / "short.mp4", moving_frames(2, H, W), codec="libx264")}


def predict(files, out: Path, *args: str) -> None:
    argv = ["predict", str(files["video"]), str(out), "--checkpoint", str(files["model"]), "--decoder", "pyav",
            "--no-progress", *args]
    assert main(argv) == 0


def test_decoder_option_decides_the_backend(files, tmp_path, monkeypatch):
    """--decoder pyav never touches decord (a stand-in that raises when used); --decoder decord uses it."""
    stand_in = types.ModuleType("decord")

    def used(name):
        raise RuntimeError("decord used")

    stand_in.__getattr__ = used
    monkeypatch.setitem(sys.modules, "decord", stand_in)
    predict(files, tmp_path / "pyav.mp4", "--steps", "2")
    assert decoded(tmp_path / "pyav.mp4").shape[0] == 3 + 2
    argv = ["predict", str(files["video"]), str(tmp_path / "d.mp4"), "--checkpoint", str(files["model"]),
            "--decoder", "decord", "--no-progress"]
    with pytest.raises(RuntimeError, match="decord used"):
        main(argv)


def test_mp4_decodes_back_to_the_frame_count_and_size(files, tmp_path, capsys):
    predict(files, tmp_path / "c.mp4", "--steps", "5")
    frames = decoded(tmp_path / "c.mp4")
    assert frames.shape == (3 + 5, H, W, 3)  # n_input context frames + steps, at the video's own size
    assert "frames/s" in capsys.readouterr().out
    predict(files, tmp_path / "n.mp4", "--mode", "next")
    assert decoded(tmp_path / "n.mp4").shape == (T, H, W, 3)  # one output frame per video frame


def test_gif_and_png_folder(files, tmp_path):
    predict(files, tmp_path / "c.gif", "--steps", "4")
    assert iio.improps(tmp_path / "c.gif", plugin="pillow", index=None).shape[:3] == (3 + 4, H, W)
    predict(files, tmp_path / "pngs", "--steps", "4")
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [f"{i:06d}.png" for i in range(7)]


def test_api_matches_the_cli_exactly(files, tmp_path):
    """The CLI writes what the API returns (PNG: lossless), in both modes."""
    frames = np.stack(list(iter_frames(files["video"], decoder="pyav")))
    model = load_model(files["model"])
    predict(files, tmp_path / "next", "--mode", "next")
    written = np.stack([iio.imread(p) for p in sorted((tmp_path / "next").glob("*.png"))])
    nxt = model.predict_next(frames)
    assert nxt.shape == (T - 3, H, W, 3) and nxt.dtype == np.uint8
    np.testing.assert_array_equal(written[3:], nxt)
    np.testing.assert_array_equal(written[:3], frames[:3])  # no context yet: the video's own frames
    assert np.abs(nxt.astype(int) - frames[2:-1]).mean() > 1  # not copy-last
    predict(files, tmp_path / "cont", "--steps", "4", "--start", "5")
    written = np.stack([iio.imread(p) for p in sorted((tmp_path / "cont").glob("*.png"))])
    np.testing.assert_array_equal(written[:3], frames[5:8])
    np.testing.assert_array_equal(written[3:], model.predict(frames[5:8], steps=4))


def test_torch_in_torch_out(files):
    frames = np.stack(list(iter_frames(files["video"], decoder="pyav")))[:6]
    model = load_model(files["model"])
    out = model.predict(torch.from_numpy(frames), steps=2)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), model.predict(frames, steps=2))
    nxt = model.predict_next(torch.from_numpy(frames), batch=2)
    np.testing.assert_array_equal(nxt.numpy(), model.predict_next(frames, batch=5))  # batching changes nothing


def test_any_size_for_a_fully_convolutional_model(tmp_path, moving_frames):
    """Sides that are not multiples of the stride are padded and cut back: an untrained warp is copy-last."""
    save_trained(tmp_path / "m.pt", "warp", {"n_input": 2}, build_model("warp", n_input=2), n_output=1)
    model = load_model(tmp_path / "m.pt")
    frames = moving_frames(3, 37, 51)
    assert model.fully_convolutional and model.stride == 8
    out = model.predict(frames, steps=2)
    np.testing.assert_array_equal(out, frames[[-1, -1]])


def test_side_by_side_layout(files, tmp_path):
    predict(files, tmp_path / "s.mp4", "--mode", "next", "--side-by-side", "--baselines", "copy_last", "flow")
    frames = decoded(tmp_path / "s.mp4")
    assert frames.shape == (T, H, 5 * W + 4 * GAP, 3)  # context | truth | prediction | copy-last | flow


def test_frame_plan_keeps_the_aspect_ratio():
    decode, crop, note = frame_plan((1080, 1920), (64, 64))
    assert decode == (64, 114) and crop == (0, 25, 64, 64) and "aspect ratio kept" in note
    assert frame_plan((240, 320), (240, 320)) == (None, (), "")
    assert frame_plan((240, 320), (120, 160))[1:] == ((0, 0, 120, 160), "frames scaled from 240x320 to 120x160")


def test_next_holds_a_window_not_the_video(files):
    """iter_next keeps at most span + batch decoded frames alive (the streaming behind --mode next)."""
    model = load_model(files["model"])
    seen, most = [], 0

    def frames():
        for f in iter_frames(files["video"], decoder="pyav"):
            seen.append(weakref.ref(f))
            yield f

    count = 0
    for _frame, _pred in model.iter_next(frames(), batch=2):
        del _frame, _pred
        count += 1
        most = max(most, sum(r() is not None for r in seen))
    assert count == T and most <= model.span() + 2 + 2, most


@pytest.mark.parametrize("case, pattern", [
    ("missing", "no such video file"),
    ("garbage", "not a readable video"),
    ("too_short", "needs 3 context frames"),
    ("suffix", "unknown output type"),
    ("not_vfp", "not a vfp model file"),
])
def test_errors_are_one_line(files, tmp_path, capsys, case, pattern):
    video, model, out = files["video"], files["model"], tmp_path / "o.mp4"
    if case == "missing":
        video = tmp_path / "nope.mp4"
    elif case == "garbage":
        video = tmp_path / "garbage.mp4"
        video.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "too_short":
        video = files["short"]
    elif case == "suffix":
        out = tmp_path / "o.webp"
    else:
        model = tmp_path / "x.pt"
        torch.save({"x": 1}, model)
    assert main(["predict", str(video), str(out), "--checkpoint", str(model), "--no-progress"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and pattern in lines[0], lines
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".o.*"))  # nothing half-written


def test_error_from_the_command_has_no_traceback(files, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    cmd = [sys.executable, "-m", "vfp.cli", "predict", str(garbage), "--checkpoint", str(files["model"])]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"})
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "not a readable video" in res.stderr and "Traceback" not in res.stderr + res.stdout


def test_streaming_reads_with_pyav_unless_decord_is_asked_for(tmp_path, monkeypatch, write_video, moving_frames):
    """`vfp predict` streams with PyAV for `auto` (decord's chunked reads grew the peak memory with the
    video's length, benchmarks/predict_memory.py); an explicit `decord` is honoured."""
    from vfp.data import decode_decord
    from vfp.data.stream import iter_frames

    path = tmp_path / "v.mp4"
    write_video(path, moving_frames(12, 32, 48), codec="libx264")

    def decord_used(*args, **kwargs):
        raise AssertionError("decord used")

    monkeypatch.setattr(decode_decord, "count", decord_used)
    assert len(list(iter_frames(path, None, "auto"))) == 12
    with pytest.raises(AssertionError, match="decord used"):
        list(iter_frames(path, None, "decord"))
