"""The download stage never deletes a folder vfp did not make (issue: a user's folder is deleted).

``data.root`` is replaced whole by the download stage, so it must be missing, empty or marked as vfp's
(``.vfp-data-root``); ``data.folder`` must lie apart from it. Both are refused in one line before
anything is touched, by ``python stages/download.py`` and by ``dvc repro`` (whose download output is
``persist: true``, so DVC does not delete it before the stage runs).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.dvc_project import dvc, project_copy

REPO = Path(__file__).resolve().parents[2]


def _stage():
    spec = importlib.util.spec_from_file_location("stage_download", REPO / "stages" / "download.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _download(cwd: Path, monkeypatch, capsys) -> tuple[int, str]:
    """Run the download stage in ``cwd`` (in this process: no interpreter start); ``(exit code, stderr)``."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = _stage().main([])
    return code, capsys.readouterr().err


def _one_error_line(result: tuple[int, str]) -> str:
    code, err = result
    assert code == 1, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_user_folder_as_data_root_is_refused_and_kept(tmp_path, tiny_params, monkeypatch, capsys):
    user = tmp_path / "myvideos"
    (user / "Keep").mkdir(parents=True)
    (user / "Keep" / "note.txt").write_text("precious")
    project = tmp_path / "project"
    tiny_params(project, data={"root": str(user)})
    line = _one_error_line(_download(project, monkeypatch, capsys))
    assert str(user) in line and "data.root" in line and ".vfp-data-root" in line
    assert _tree(user) == {"Keep/note.txt": b"precious"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder beside it


def test_vfp_made_root_is_replaced_and_data_folder_overlapping_it_refused(tmp_path, tiny_params, monkeypatch,
                                                                          capsys):
    tiny_params(tmp_path, sample={"frames": 8})
    assert _download(tmp_path, monkeypatch, capsys)[0] == 0
    root = tmp_path / "data" / "raw"
    assert (root / ".vfp-data-root").is_file()
    tiny_params(tmp_path, sample={"frames": 9})  # other params: the stage replaces its own folder
    code, err = _download(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert (root / ".vfp-data-root").is_file() and len(list(root.glob("*/*.avi"))) == 18
    before = _tree(tmp_path / "data")
    for folder, data_root in (("data/raw", "data/raw"), ("data/raw/PanLeft", "data/raw"), ("data", "data/raw/mirror")):
        tiny_params(tmp_path, data={"source": "folder", "folder": folder, "root": data_root})
        line = _one_error_line(_download(tmp_path, monkeypatch, capsys))
        assert f"data.folder {folder} and data.root {data_root} overlap" in line
        assert _tree(tmp_path / "data") == before


def test_ucf101_download_dir_inside_root_is_refused(tmp_path, tiny_params, monkeypatch, capsys):
    tiny_params(tmp_path, data={"source": "ucf101"}, ucf101={"download_dir": "data/raw/download"})
    line = _one_error_line(_download(tmp_path, monkeypatch, capsys))
    assert "ucf101.download_dir" in line
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_dvc_repro_with_data_folder_equal_to_data_root_keeps_the_videos(tmp_path):
    """DVC removes a stage's outputs before its command runs unless they are ``persist``: without it the
    videos in data/raw were gone before the stage could refuse the params."""
    def tiny(params):
        params["sample"].update(moving_classes=2, static_classes=1, groups=6, clips_per_group=1, frames=12)

    project = project_copy(tmp_path / "p", tiny)
    dvc("repro", "download", cwd=project)
    root = project / "data" / "raw"
    before = _tree(root)
    assert len([k for k in before if k.endswith(".avi")]) == 18
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(source="folder", folder="data/raw")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "download"], cwd=project,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "data.folder data/raw and data.root data/raw overlap" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert _tree(root) == before
