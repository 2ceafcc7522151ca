"""Stage scripts in a temp project: outputs appear; a failed or killed stage leaves no partial output."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(stage: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stages" / f"{stage}.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_download_motion_split_in_a_project(tmp_path, tiny_params):
    tiny_params(tmp_path)
    for stage in ("download", "motion_filter", "split"):
        proc = _run(stage, tmp_path)
        assert proc.returncode == 0, (stage, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr
        assert proc.stdout.startswith(stage.split("_")[0]), proc.stdout
    raw = tmp_path / "data" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [".vfp-data-root", "PanLeft", "PanRight", "StillLife", "splits"]
    assert len(list(raw.glob("*/*.avi"))) == 3 * 6
    motion = json.loads((tmp_path / "data" / "motion.json").read_text())
    assert motion["kept"] == ["PanLeft", "PanRight"] and motion["dropped"] == ["StillLife"]
    split = tmp_path / "data" / "split"
    assert sorted(p.name for p in split.iterdir()) == ["summary.json", "test.txt", "train.txt", "val.txt"]
    summary = json.loads((split / "summary.json").read_text())
    assert summary["counts"]["test"] == 2 * 2 and summary["counts"]["train"] + summary["counts"]["val"] == 2 * 4
    for line in (split / "train.txt").read_text().splitlines():
        video, n = line.split("\t")
        assert video.startswith("data/raw/") and int(n) == 16 and (tmp_path / video).is_file()
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # no temp leftovers


class Boom(RuntimeError):
    pass


def _failing_write_avi(monkeypatch, after: int, exc: type[BaseException] = Boom):
    import vfp.data.sample as sample

    real, calls = sample.write_avi, []

    def write_avi(path, frames):
        if len(calls) >= after:
            raise exc("disk on fire")
        calls.append(path)
        real(path, frames)

    monkeypatch.setattr(sample, "write_avi", write_avi)
    return calls


def test_download_failing_midway_leaves_nothing(tmp_path, tiny_params, monkeypatch):
    tiny_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    calls = _failing_write_avi(monkeypatch, after=3)
    with pytest.raises(Boom):
        _load_stage("download").main(["--params", "params.yaml"])
    assert len(calls) == 3
    assert not (tmp_path / "data" / "raw").exists()
    assert list((tmp_path / "data").iterdir()) == []  # the temp folder is gone too


def test_failed_rerun_keeps_previous_output(tmp_path, tiny_params, monkeypatch, capsys):
    tiny_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    stage = _load_stage("download")
    assert stage.main(["--params", "params.yaml"]) == 0
    before = _snapshot(tmp_path / "data" / "raw")
    tiny_params(tmp_path, sample={"seed": 5})
    _failing_write_avi(monkeypatch, after=2, exc=KeyboardInterrupt)
    assert stage.main(["--params", "params.yaml"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _snapshot(tmp_path / "data" / "raw") == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)])
def test_killed_download_leaves_no_output(tmp_path, tiny_params, sig, code):
    tiny_params(tmp_path, sample={"moving_classes": 3, "static_classes": 2, "frames": 24})
    # A shell starts background jobs with SIGINT ignored, children inherit that, and Python then keeps
    # ignoring it (no KeyboardInterrupt): pytest run as `... &` made this test see exit 0. Give the
    # stage the default disposition a foreground Ctrl-C meets.
    proc = subprocess.Popen([sys.executable, str(REPO / "stages" / "download.py")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    tmp = tmp_path / "data" / ".raw.tmp"
    deadline = time.monotonic() + 60
    while not (tmp.is_dir() and len(list(tmp.glob("*/*.avi"))) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "download finished before the kill"
        time.sleep(0.02)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert not (tmp_path / "data" / "raw").exists()
    if sig == signal.SIGINT:
        assert err.strip().splitlines()[-1].startswith("interrupted:")
        assert not tmp.exists()
    # a re-run starts clean and succeeds
    assert _run("download", tmp_path).returncode == 0
    assert (tmp_path / "data" / "raw" / "splits" / "trainlist01.txt").is_file() and not tmp.exists()


def test_motion_stage_on_unusable_folder_is_one_error_line(tmp_path, tiny_params):
    tiny_params(tmp_path)
    (tmp_path / "data" / "raw" / "Cls").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "Cls" / "v_Cls_g01_c01.avi").write_bytes(b"")
    (tmp_path / "data" / "raw" / "Cls" / "v_Cls_g02_c01.mp4").write_bytes(os.urandom(5000))
    proc = _run("motion_filter", tmp_path)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("warning:") and "video_reader.cc" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no readable videos" in lines[0], proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]) == 2
    assert not (tmp_path / "data" / "motion.json").exists()


def test_split_stage_without_motion_filter_output(tmp_path, tiny_params):
    tiny_params(tmp_path)
    proc = _run("split", tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.stderr.strip().splitlines() == [
        "error: data/motion.json: not found; run the motion filter first (dvc repro motion_filter)"]
