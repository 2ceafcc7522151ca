"""Shared test fixtures: a tiny generated sample dataset (built once per session) and video writers.

Fixtures (all CPU, no network):

- ``sample_root``: ``generate_sample`` with :data:`SAMPLE` settings (3 moving + 2 static classes,
  6 groups, 2 clips per group, 24 frames of 320x240 xvid AVI) in a session temp dir. Read-only:
  copy it (``shutil.copytree``) before changing anything.
- ``sample_info``: those settings plus the ``moving`` / ``static`` class names.
- ``sample_motion``: ``(motion.json path, result)`` of the motion filter on it (default settings).
- ``sample_split``: the ``data/split``-style folder of official split 1 (val fraction 0.2, seed 0).
- ``write_video``: ``write_video(path, frames, fps=25, codec="mpeg4", pix_fmt="yuv420p")`` writes
  uint8 frames ``[T, H, W, 3]`` (or ``[T, H, W]`` grey) with the imageio-ffmpeg binary.
- ``moving_frames``: ``moving_frames(n, height, width, dx=3, dy=0, seed=0)`` a smooth texture panning.
- ``tiny_params``: ``tiny_params(folder, **section_overrides)`` writes the committed params.yaml
  with tiny sample settings into ``folder`` and returns its path.
"""
from __future__ import annotations

import copy
import importlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

SAMPLE = dict(seed=0, moving_classes=3, static_classes=2, groups=6, clips_per_group=2, frames=24)
MOVING_CLASSES = ["PanLeft", "PanRight", "TiltUp"]
STATIC_CLASSES = ["StillLife", "QuietRoom"]


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (``.ci/run`` sets it; so do most CI services)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def need_tool():
    """``need_tool(program, package=...)`` -> the program's path; if it is missing the test is skipped,
    or fails under CI (a CI run must not pass by skipping what it is there to check)."""
    def need(program: str, *, package: str) -> str:
        path = shutil.which(program)
        if path:
            return path
        message = f"{program} not installed (Debian/Ubuntu: apt-get install -y {package})"
        if in_ci():
            pytest.fail(f"CI needs {message}", pytrace=False)
        pytest.skip(message)

    return need


@pytest.fixture(scope="session")
def need_module():
    """``need_module(name, install=...)`` -> the imported module; if it is missing the test is skipped,
    or fails under CI (which installs every optional extra the tests exercise)."""
    def need(name: str, *, install: str):
        try:
            return importlib.import_module(name)
        except ImportError:
            message = f"Python module {name} not installed ({install})"
            if in_ci():
                pytest.fail(f"CI needs {message}", pytrace=False)
            pytest.skip(message)

    return need


@pytest.fixture(scope="session")
def sample_info() -> dict:
    """The settings of ``sample_root`` plus its ``moving`` and ``static`` class names."""
    return dict(SAMPLE, moving=list(MOVING_CLASSES), static=list(STATIC_CLASSES))


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    from vfp.data.sample import generate_sample

    root = tmp_path_factory.mktemp("sample") / "raw"
    generate_sample(root, **SAMPLE)
    return root


@pytest.fixture(scope="session")
def sample_motion(sample_root) -> tuple[Path, dict]:
    from vfp.data.motion import motion_filter

    out = sample_root.parent / "motion.json"
    result = motion_filter(sample_root, out, size=32, frames=16, mode="absolute", threshold=1.0)
    return out, result


@pytest.fixture(scope="session")
def sample_split(sample_root, sample_motion) -> Path:
    from vfp.data.splits import make_splits

    out = sample_root.parent / "split"
    make_splits(sample_root, sample_motion[0], out, official=1, val_fraction=0.2, seed=0)
    return out


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _write_video(path: Path, frames: np.ndarray, fps: float = 25, codec: str = "mpeg4",
                 pix_fmt: str = "yuv420p", extra: tuple[str, ...] = ()) -> Path:
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    grey = frames.ndim == 3
    height, width = frames.shape[1:3]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray" if grey else "rgb24",
           "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", codec, "-pix_fmt", pix_fmt,
           "-threads", "1", *extra, str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def write_video():
    return _write_video


def _moving_frames(n: int, height: int, width: int, dx: int = 3, dy: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big_h, big_w = height + abs(dy) * n + 8, width + abs(dx) * n + 8
    coarse = rng.random((big_h // 8 + 2, big_w // 8 + 2, 3))
    tex = np.kron(coarse, np.ones((8, 8, 1)))[:big_h, :big_w] * 255
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    for t in range(n):
        oy = (0 if dy >= 0 else big_h - height - 1) + dy * t
        ox = (0 if dx >= 0 else big_w - width - 1) + dx * t
        out[t] = tex[oy:oy + height, ox:ox + width]
    return out


@pytest.fixture(scope="session")
def moving_frames():
    return _moving_frames


@pytest.fixture(scope="session")
def tiny_params():
    def make(folder: Path, **overrides) -> Path:
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        raw = copy.deepcopy(raw)
        raw["sample"].update(seed=0, moving_classes=2, static_classes=1, groups=6, clips_per_group=1, frames=16)
        for section, values in overrides.items():
            if isinstance(values, dict):
                raw.setdefault(section, {}).update(values)
            else:
                raw[section] = values
        path = Path(folder) / "params.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    return make
