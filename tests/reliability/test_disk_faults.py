"""Disk full and read-only folders end in one line naming the folder, leave a resumable state, and the
resumed result equals the uninterrupted one (issue: tracebacks where one line is promised: disk full in
models/, data/cache or reports/, a read-only cache). Faults are injected at vfp's write helper
(``vfp.fileio._open_temp``, which every atomic write goes through): a test cannot fill a real disk, and
as root a read-only permission does not stop writes."""
from __future__ import annotations

import errno
import io
import os

import pytest
import torch
from test_damaged_checkpoint import _state, _train  # noqa: E402 (tests/reliability on sys.path)

from vfp import fileio
from vfp.data.cache import build_cache, cache_path
from vfp.data.clips import ClipDataset
from vfp.data.splits import read_split
from vfp.errors import VfpError
from vfp.stage import run_stage

SIZE = (32, 48)


class _Full(io.RawIOBase):
    """A file whose writes fail like a full disk, after ``room`` bytes."""

    def __init__(self, real, room: int):
        self.real, self.room = real, room

    def writable(self):
        return True

    def write(self, data):
        if self.room < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.real.write(data)

    def fileno(self):
        return self.real.fileno()

    def close(self):
        self.real.close()
        super().close()


@pytest.fixture
def fault(monkeypatch):
    """``fault(errno_code, where=str, room=0)``: writes of files whose path contains ``where`` fail."""
    real_open = fileio._open_temp

    def inject(code: int, where: str = "", room: int = 0):
        def failing(path):
            if where not in os.fspath(path):
                return real_open(path)
            if code != errno.ENOSPC:  # read-only, no permission: creating the file fails
                raise OSError(code, os.strerror(code), os.fspath(path.parent))
            handle, tmp = real_open(path)
            return io.BufferedWriter(_Full(handle, room)), tmp

        monkeypatch.setattr(fileio, "_open_temp", failing)

    yield inject
    monkeypatch.setattr(fileio, "_open_temp", real_open)


def test_disk_full_in_models_is_one_line_and_resumes_to_the_same_weights(tmp_path, fault, monkeypatch):
    _train(tmp_path / "straight")
    _train(tmp_path / "run", max_epochs=1)
    fault(errno.ENOSPC, where="checkpoint_")
    with pytest.raises(VfpError) as err:
        _train(tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message and "No space left on device" in message and f"in {tmp_path / 'run'}" in message
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]  # no half file left
    monkeypatch.undo()
    summary = _train(tmp_path / "run")  # space freed: resume from the last whole checkpoint
    assert summary["resumed_from"]
    a, b = _state(tmp_path / "straight" / "model.pt"), _state(tmp_path / "run" / "model.pt")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_cache_that_cannot_be_written_is_one_warning_and_clips_stay_right(sample_split, tmp_path, fault, capfd,
                                                                           code):
    videos = read_split(sample_split, "train")[:2]
    kwargs = dict(n_frames=4, interval=2, size=SIZE, clips_per_video=2)
    plain = [ClipDataset(videos, **kwargs)[i]["frames"] for i in range(4)]
    fault(code, where=str(tmp_path / "cache"))
    capfd.readouterr()
    cached = ClipDataset(videos, cache_dir=tmp_path / "cache", **kwargs)
    for i in range(4):
        assert torch.equal(cached[i]["frames"], plain[i])
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: data.cache") and str(tmp_path / "cache") in lines[0]
    assert os.strerror(code) in lines[0]


def test_cache_fill_on_a_full_disk_is_one_line_and_keeps_whole_entries(sample_split, tmp_path, fault, capfd):
    videos = read_split(sample_split, "test")[:3]
    cache = tmp_path / "cache"
    first = cache_path(videos[0], cache, SIZE)
    build_cache(videos[:1], cache, SIZE, workers=1)
    fault(errno.ENOSPC, where=str(cache))
    with pytest.raises(VfpError) as err:
        build_cache(videos, cache, SIZE, workers=1)
    assert "\n" not in str(err.value) and "No space left on device" in str(err.value)
    assert "2 of 2 videos not stored" in str(err.value)
    assert first.is_file() and not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]


def test_read_only_reports_folder_in_a_stage_is_one_line(tmp_path, fault, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 0\n")

    def work(cfg, args):
        fileio.atomic_write_text(tmp_path / "reports" / "m" / "index.html", "<html>")

    fault(errno.EROFS, where="reports")
    assert run_stage("evaluate", work, []) == 1
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert lines == [f"error: cannot write {tmp_path / 'reports' / 'm' / 'index.html'}: Read-only file system "
                     f"(in {tmp_path / 'reports' / 'm'}); free space there or make the folder writable, then run "
                     "again"]


def test_os_error_of_a_library_write_is_one_line(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 0\n")

    def work(cfg, args):  # e.g. dvclive writing its own files on a full disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "models" / "logs" / "metrics.json"))

    assert run_stage("train", work, []) == 1
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "models/logs/metrics.json" in lines[0]
