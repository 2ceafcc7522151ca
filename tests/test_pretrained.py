"""The pretrained model shipped in the package: it loads with no arguments, is small, is package data,
beats copy-last at t+1 on a real video it never saw, and the docs' Python example runs as written."""
from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import tomllib

from vfp.api import PRETRAINED, load_model
from vfp.data.stream import iter_frames

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = REPO.parent / "shared" / "fixtures" / "real-more" / "st-gcn_ta_chi.mp4"  # not in its training data


def test_pretrained_loads_without_arguments_and_is_package_data():
    model = load_model()
    assert model.path == PRETRAINED and model.fully_convolutional and model.n_input >= 2
    assert PRETRAINED.stat().st_size < 5 * 2**20  # a few MB at most
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vfp"]
    assert any(fnmatch(PRETRAINED.relative_to(REPO / "vfp").as_posix(), p) for p in patterns)


@pytest.mark.skipif(not HELD_OUT.is_file(), reason="../shared/fixtures/real-more not present")
def test_pretrained_beats_copy_last_on_a_held_out_real_clip():
    model = load_model()
    frames = np.stack([f for i, f in enumerate(iter_frames(HELD_OUT, decoder="pyav")) if 150 <= i < 190])
    sq_model = sq_copy = 0.0
    for start in range(0, 40 - model.n_input, 9):  # 4 clips, pooled MSE at t+1
        context, truth = frames[start:start + model.n_input], frames[start + model.n_input].astype(float)
        sq_model += ((model.predict(context)[0] - truth) ** 2).mean()
        sq_copy += ((context[-1] - truth) ** 2).mean()
    assert sq_model < sq_copy, (sq_model, sq_copy)


def test_the_docs_python_example_runs(tmp_path, monkeypatch, write_video, moving_frames):
    text = (REPO / "docs" / "predict.md").read_text()
    code = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "my_video.mp4", moving_frames(48, 64, 96), codec="libx264")
    scope: dict = {}
    exec(compile(code, "docs/predict.md", "exec"), scope)  # noqa: S102 - the documented example, as written
    assert scope["future"].shape == (4, 64, 96, 3) and scope["nxt"].shape[0] == 48 - scope["model"].span()
