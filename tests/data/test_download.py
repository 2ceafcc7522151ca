"""Resumable, verified downloads against a real HTTP server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from vfp.data.download import download_file
from vfp.errors import VfpError

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cut_download_resumes_with_range(http_server, tmp_path):
    http_server.files["/UCF101.rar"] = DATA
    http_server.cut_first_after = 100_000
    dest = tmp_path / "UCF101.rar"
    download_file(http_server.url("/UCF101.rar"), dest, sha256=SHA, size=len(DATA),
                  backoff=0, progress=False)
    assert _sha(dest) == SHA
    assert not (tmp_path / "UCF101.rar.part").exists()
    ranges = [r for _, r in http_server.requests]
    assert ranges[0] is None
    assert "bytes=100000-" in ranges[1:], ranges


def test_resume_of_existing_part_on_a_later_run(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    (tmp_path / "f.bin.part").write_bytes(DATA[:1234])
    dest = download_file(http_server.url("/f.bin"), tmp_path / "f.bin", sha256=SHA, progress=False)
    assert _sha(dest) == SHA
    assert http_server.requests == [("/f.bin", "bytes=1234-")]


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    http_server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"x" * 5000)  # garbage that must not survive
    dest = download_file(http_server.url("/f.bin"), tmp_path / "f.bin", sha256=SHA, progress=False)
    assert _sha(dest) == SHA


def test_complete_part_416_is_verified_and_renamed(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    (tmp_path / "f.bin.part").write_bytes(DATA)
    dest = download_file(http_server.url("/f.bin"), tmp_path / "f.bin", sha256=SHA, progress=False)
    assert _sha(dest) == SHA
    assert http_server.requests == [("/f.bin", f"bytes={len(DATA)}-")]


def test_corrupt_download_is_refused(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    dest = tmp_path / "f.bin"
    with pytest.raises(VfpError) as ei:
        download_file(http_server.url("/f.bin"), dest, sha256="0" * 64, progress=False)
    msg = str(ei.value)
    assert "sha256" in msg and "\n" not in msg
    assert not dest.exists()
    assert not (tmp_path / "f.bin.part").exists()


def test_wrong_size_is_refused(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    with pytest.raises(VfpError, match="size"):
        download_file(http_server.url("/f.bin"), tmp_path / "f.bin", size=len(DATA) + 1, progress=False)
    assert not (tmp_path / "f.bin").exists()


def test_complete_file_is_not_downloaded_again(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    dest = tmp_path / "f.bin"
    dest.write_bytes(DATA)
    download_file(http_server.url("/f.bin"), dest, sha256=SHA, size=len(DATA), progress=False)
    assert http_server.requests == []
    assert _sha(dest) == SHA


def test_http_error_is_one_line(http_server, tmp_path):
    url = http_server.url("/missing.rar")
    with pytest.raises(VfpError) as ei:
        download_file(url, tmp_path / "missing.rar", progress=False, hint="HINT")
    msg = str(ei.value)
    assert "\n" not in msg and url in msg and "404" in msg and "HINT" in msg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_gives_one_line_error(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/UCF101.rar"
    hint = "copy UCF-101 elsewhere and set data.source: folder with data.folder: <path>"
    with pytest.raises(VfpError) as ei:
        download_file(url, tmp_path / "UCF101.rar", progress=False, hint=hint)
    msg = str(ei.value)
    assert "\n" not in msg
    assert url in msg and "download failed" in msg and "connection refused" in msg
    assert "data.source: folder" in msg
    assert not (tmp_path / "UCF101.rar").exists()


def test_insecure_tls_warns_loudly(http_server, tmp_path):
    http_server.files["/f.bin"] = DATA
    with pytest.warns(UserWarning, match="TLS CERTIFICATE VERIFICATION IS DISABLED"):
        download_file(http_server.url("/f.bin"), tmp_path / "f.bin", insecure_tls=True, progress=False)
