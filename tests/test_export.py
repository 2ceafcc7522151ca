"""``vfp export``: every built-in model exports to ONNX (opset 17) and gives PyTorch's next frame within
1e-4 in onnxruntime, or is refused in one line saying why. Needs onnxruntime (``pip install 'vfp[export]'``):
skipped without it, failed in CI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vfp import flow as fl
from vfp.api import load_model
from vfp.cli import main
from vfp.errors import VfpError
from vfp.export import TOLERANCE, export_model
from vfp.modelio import save_trained
from vfp.models.base import FlowBase, build_predictor
from vfp.models.registry import REGISTRY

BUILT_IN = sorted(name for name, spec in REGISTRY.items() if spec.module.startswith("vfp.models."))
# (model, base, net keywords) -> the reason it cannot be exported, for the variants that cannot
REFUSED = {("warp", "copy_last", (("prior", "farneback"),)): "computes outside PyTorch"}
CASES = [(name, base, ()) for base in ("copy_last", "flow") for name in BUILT_IN] + list(REFUSED)
SIZE = (32, 48)


def model_file(folder: Path, name: str, base: str = "copy_last", kwargs: tuple = ()) -> Path:
    torch.manual_seed(0)
    net = build_predictor(name, dict(kwargs), base)
    with torch.no_grad():
        for p in net.parameters():  # zero-initialised heads would hide a wrong graph: move every weight
            p.add_(0.02 * torch.randn_like(p))
    path = folder / f"{name}.pt"
    save_trained(path, name, dict(kwargs), net, n_output=1, extra={"size": list(SIZE), "interval": 1})
    return path


def stride_fit(path: Path) -> tuple[int, int]:
    s = load_model(path).stride
    return tuple(max(s, -(-x // s) * s) for x in SIZE)


def smooth_frames(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    coarse = torch.rand((shape[0] * shape[1], shape[2], shape[3] // 4, shape[4] // 4),
                        generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(coarse, size=shape[3:], mode="bilinear").view(shape) * 2 - 1


@pytest.mark.parametrize("name, base, kwargs", CASES,
                         ids=[f"{n}-{b}{''.join('-' + v for _, v in k)}" for n, b, k in CASES])
def test_onnx_export_matches_pytorch_or_is_refused(tmp_path, need_module, name, base, kwargs):
    """The file's next frame equals the model's (PyTorch, the whole model: on base flow the caller's
    base frame is the flow baseline's prediction) within 1e-4, or the export is refused in one line."""
    ort = need_module("onnxruntime", install="pip install 'vfp[export]'")
    path = model_file(tmp_path, name, base, kwargs)
    size = stride_fit(path)
    if (name, base, kwargs) in REFUSED:
        with pytest.raises(VfpError, match=REFUSED[(name, base, kwargs)]) as err:
            export_model(path, tmp_path / "m.onnx", "onnx", size)
        assert "\n" not in str(err.value) and not (tmp_path / "m.onnx").exists()
        return
    res = export_model(path, tmp_path / "m.onnx", "onnx", size)
    model = load_model(path)
    frames = smooth_frames((1, model.n_input, 3, *size), seed=7)
    context = frames
    if isinstance(model.net, FlowBase):
        assert res.input_shape[1] == model.n_input + 1 and "flow baseline" in res.inputs
        context = torch.cat([frames, fl.extrapolate(frames, 1, model.net.method, model.net.preset)], dim=1)
    want = model.step(frames, 1)[:, 0].numpy()
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"context": context.numpy()})[0]
    assert got.shape == want.shape and np.abs(got - want).max() <= TOLERANCE


def test_torchscript_export_runs_without_vfp(tmp_path):
    path = model_file(tmp_path, "warp")
    size = stride_fit(path)
    res = export_model(path, tmp_path / "m.torchscript.pt", "torchscript", size)
    assert res.max_abs_diff <= TOLERANCE
    loaded = torch.jit.load(str(tmp_path / "m.torchscript.pt"))
    assert loaded(torch.zeros(res.input_shape)).shape == (1, 3, *size)


def test_export_command(tmp_path, need_module, capsys):
    need_module("onnxruntime", install="pip install 'vfp[export]'")
    path = model_file(tmp_path, "warp")
    assert main(["export", str(path), "--format", "onnx", "--size", "32", "48"]) == 0
    assert (tmp_path / "warp.onnx").is_file() and "max abs difference" in capsys.readouterr().out
    assert main(["export", str(path), "--size", "30", "48", "--out", str(tmp_path / "bad.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "divisible by 8" in err[0]
