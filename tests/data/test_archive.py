"""Safe extraction of the RAR fixtures (tests/fixtures/rar, from the rarfile project) and of ZIPs."""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from vfp.data import archive as arc
from vfp.data.archive import available_extractor, extract_archive, list_archive
from vfp.errors import VfpError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rar"
# Every extractor vfp supports, installed or not: a missing one skips its cases locally and fails them
# under CI (``need_tool``), so CI cannot pass without exercising both.
TOOLS = {"unar": ("unar", "lsar"), "bsdtar": ("bsdtar",)}
PACKAGES = {"unar": "unar", "bsdtar": "libarchive-tools"}


@pytest.fixture
def rar_tool(request, need_tool) -> str:
    """The parametrized extractor, after checking its programs are installed."""
    tool = request.param
    for program in TOOLS[tool]:
        need_tool(program, package=PACKAGES[tool])
    return tool


def expected_entries(exp: Path) -> tuple[set[str], set[str]]:
    """(files, dirs) named in a rarfile '.exp' dump; 'is=F--' file, '-D-' dir, '--L' link."""
    files, dirs, kind = set(), set(), None
    for line in exp.read_text(encoding="utf-8").splitlines():
        m = re.search(r"\bis=([F-])([D-])([L-])", line)
        if m:
            kind = "F" if m.group(1) == "F" else "D" if m.group(2) == "D" else "L"
        m = re.match(r"\s+name=(.*)$", line)
        if m and kind:
            (files if kind == "F" else dirs).add(m.group(1).rstrip("/"))
    return files, dirs


def tree(root: Path) -> tuple[set[str], set[str]]:
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    dirs = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}
    return files, dirs


@pytest.mark.parametrize("rar_tool", list(TOOLS), indirect=True)
@pytest.mark.parametrize("name", ["rar5-subdirs.rar", "rar3-subdirs.rar"])
def test_rar_extracts_listed_files(tmp_path, rar_tool, name):
    tool = rar_tool
    files, dirs = expected_entries(FIXTURES / f"{name}.exp")
    assert "sub/üȵĩöḋè/file.txt" in files and "sub/empty" in dirs  # the dump was parsed
    # Copy both fixtures side by side: unar would read 'rar3-x.rar' + 'rar5-x.rar' as one
    # multi-volume set if given the original path; extract_archive must not be fooled.
    for f in FIXTURES.glob("rar*-subdirs.rar"):
        shutil.copy(f, tmp_path / f.name)
    dest = tmp_path / "out"
    extract_archive(tmp_path / name, dest, tool=tool)
    got_files, got_dirs = tree(dest)
    assert got_files == files
    assert got_dirs == dirs
    assert (dest / "sub/dir1/file1.txt").stat().st_size == 6
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_rar3_solid_with_unar(tmp_path, need_tool):
    need_tool("unar", package="unar")
    dest = extract_archive(FIXTURES / "rar3-solid.rar", tmp_path / "out", tool="unar")
    assert tree(dest)[0] == expected_entries(FIXTURES / "rar3-solid.rar.exp")[0]


@pytest.mark.parametrize("rar_tool", list(TOOLS), indirect=True)
def test_evil_symlink_archive_is_refused(tmp_path, rar_tool):
    tool = rar_tool
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    before_parent = sorted(os.listdir(work.parent))
    before_work = sorted(os.listdir(work))
    entries = list_archive(FIXTURES / "rar5-evil-symlink-traversal.rar", tool)
    assert ("up", "symlink") in [(e.name, e.kind) for e in entries]
    with pytest.raises(VfpError, match="symlink") as ei:
        extract_archive(FIXTURES / "rar5-evil-symlink-traversal.rar", work / "out", tool=tool)
    assert "\n" not in str(ei.value) and "'up'" in str(ei.value)
    assert sorted(os.listdir(work.parent)) == before_parent
    assert sorted(os.listdir(work)) == before_work  # no out/, no temp folder
    assert list(tmp_path.rglob("pwned.txt")) == []
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))


def test_check_tree_rejects_symlinks(tmp_path):
    (tmp_path / "d").mkdir()
    os.symlink("..", tmp_path / "d" / "up")
    with pytest.raises(VfpError, match="symlink"):
        arc.check_tree(tmp_path)


@pytest.mark.parametrize("name,why", [("/etc/passwd", "absolute"), ("a/../../x", "'..'"),
                                      ("C:/x", "absolute")])
def test_zip_with_unsafe_paths_is_refused(tmp_path, name, why):
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr(zipfile.ZipInfo(name), "evil")
    with pytest.raises(VfpError, match=why):
        extract_archive(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_with_symlink_entry_is_refused(tmp_path):
    z = tmp_path / "link.zip"
    info = zipfile.ZipInfo("up")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(info, "..")
    with pytest.raises(VfpError, match="symlink"):
        extract_archive(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_extracts(tmp_path):
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ucfTrainTestlist/classInd.txt", "1 A\r\n")
    dest = extract_archive(z, tmp_path / "out")
    assert (dest / "ucfTrainTestlist/classInd.txt").read_bytes() == b"1 A\r\n"


def test_missing_extractor_names_the_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(arc.shutil, "which", lambda name: None)
    assert available_extractor() is None
    with pytest.raises(VfpError) as ei:
        extract_archive(FIXTURES / "rar5-subdirs.rar", tmp_path / "out")
    msg = str(ei.value)
    assert "apt-get install unar" in msg and "apt-get install libarchive-tools" in msg
    assert not (tmp_path / "out").exists()
