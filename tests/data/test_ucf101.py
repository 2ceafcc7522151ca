"""UCF-101 layout normalisation, checks, and the prepare_ucf101 flow on a tiny fake dataset."""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from pathlib import Path

import pytest

from vfp.data.ucf101 import (
    check_layout, normalise_splits, prepare_ucf101, read_class_index, read_split_list, resolve_case,
)
from vfp.errors import VfpError

# Real folder/file names (as in the RAR) and list entries (as in the zip, with the case quirk).
VIDEOS = [
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
    "HandstandPushups/v_HandstandPushups_g01_c01.avi",
    "HandstandPushups/v_HandstandPushups_g08_c01.avi",
]
LISTS = {
    "classInd.txt": "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n",
    "trainlist01.txt": "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
                       "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n",
    "testlist01.txt": "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n"
                      "HandstandPushups/v_HandStandPushups_g01_c01.avi\r\n",
}
for i in (2, 3):
    LISTS[f"trainlist0{i}.txt"] = LISTS["trainlist01.txt"]
    LISTS[f"testlist0{i}.txt"] = LISTS["testlist01.txt"]


def make_tree(root: Path, videos=VIDEOS) -> Path:
    for rel in videos:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"RIFF fake avi " + rel.encode())
    return root


def make_lists(folder: Path, lists=LISTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in lists.items():
        (folder / name).write_bytes(text.encode())
    return folder


def test_read_split_list_handles_crlf_and_optional_label(tmp_path):
    lists = make_lists(tmp_path / "ucfTrainTestlist")
    assert read_split_list(lists / "trainlist01.txt") == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "HandstandPushups/v_HandStandPushups_g08_c01.avi"]
    assert read_split_list(lists / "testlist01.txt")[1] == "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    assert read_class_index(lists / "classInd.txt") == {"ApplyEyeMakeup": 1, "HandstandPushups": 2}


def test_resolve_case(tmp_path):
    root = make_tree(tmp_path / "root")
    cache: dict = {}
    got = resolve_case(root, "HandstandPushups/v_HandStandPushups_g01_c01.avi", cache)
    assert got == root / "HandstandPushups/v_HandstandPushups_g01_c01.avi"
    assert resolve_case(root, "handstandpushups", cache) == root / "HandstandPushups"
    assert resolve_case(root, "Nope/v_x.avi", cache) is None
    assert resolve_case(root, "../root/ApplyEyeMakeup", cache) is None


def test_normalise_splits_to_real_names_with_lf(tmp_path):
    root = make_tree(tmp_path / "root")
    src = make_lists(tmp_path / "zip" / "ucfTrainTestlist")
    unresolved = normalise_splits(tmp_path / "zip", root, root / "splits")
    assert set(unresolved.values()) == {0}
    train = (root / "splits/trainlist01.txt").read_bytes()
    assert b"\r" not in train
    assert train.decode().splitlines() == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1", "HandstandPushups/v_HandstandPushups_g08_c01.avi 2"]
    assert (root / "splits/testlist03.txt").read_text().splitlines()[1] == \
        "HandstandPushups/v_HandstandPushups_g01_c01.avi"
    assert read_class_index(root / "splits/classInd.txt")["HandstandPushups"] == 2
    assert src.exists()
    summary = check_layout(root, expected_classes=2, expected_videos=4)
    assert summary["classes"] == 2 and summary["videos"] == 4 and summary["mismatches"] == []


def test_mismatches_are_counted_not_fatal(tmp_path):
    root = make_tree(tmp_path / "root", VIDEOS[1:])  # g01 ApplyEyeMakeup missing
    make_lists(tmp_path / "zip")
    unresolved = normalise_splits(tmp_path / "zip", root, root / "splits")
    assert unresolved["testlist01.txt"] == 1 and unresolved["trainlist01.txt"] == 0
    with pytest.warns(UserWarning) as rec:
        summary = check_layout(root, expected_classes=101, expected_videos=13320)
    assert summary["videos"] == 3 and summary["classes"] == 2
    assert summary["unresolved"]["testlist02.txt"] == 1
    assert "2 classes, expected 101" in summary["mismatches"]
    assert "3 videos, expected 13320" in summary["mismatches"]
    assert any("testlist01.txt: 1 entries" in m for m in summary["mismatches"])
    assert "13320" in str(rec[0].message)


def test_zero_videos_is_an_error(tmp_path):
    (tmp_path / "root" / "ApplyEyeMakeup").mkdir(parents=True)
    with pytest.raises(VfpError, match="no videos"):
        check_layout(tmp_path / "root")


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_prepare_ucf101_end_to_end_and_idempotent(http_server, tmp_path):
    # No RAR writer is available: serve a ZIP as the "rar" (extract_archive picks zipfile for it).
    rar = _zip({f"UCF-101/{v}": b"fake " + v.encode() for v in VIDEOS})
    splits = _zip({f"ucfTrainTestlist/{k}": v.encode() for k, v in LISTS.items()})
    http_server.files["/UCF101.rar"] = rar
    http_server.files["/splits.zip"] = splits
    kw = dict(rar_url=http_server.url("/UCF101.rar"), rar_sha256=hashlib.sha256(rar).hexdigest(),
              rar_size=None, splits_url=http_server.url("/splits.zip"),
              splits_sha256=hashlib.sha256(splits).hexdigest(), splits_size=len(splits),
              expected_classes=2, expected_videos=4, progress=False)
    root = tmp_path / "data" / "ucf101"
    summary = prepare_ucf101(root, tmp_path / "dl", **kw)
    assert summary["classes"] == 2 and summary["videos"] == 4 and summary["mismatches"] == []
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == \
        ["ApplyEyeMakeup", "HandstandPushups", "splits"]
    assert (root / "HandstandPushups/v_HandstandPushups_g01_c01.avi").is_file()
    assert b"\r" not in (root / "splits/classInd.txt").read_bytes()
    assert [p.name for p in root.parent.iterdir()] == ["ucf101"]  # no staging left behind
    n = len(http_server.requests)
    assert prepare_ucf101(root, tmp_path / "dl", **kw) == summary
    assert len(http_server.requests) == n  # second run: nothing downloaded


def test_prepare_ucf101_unreachable_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/UCF101.rar"
    with pytest.raises(VfpError) as ei:
        prepare_ucf101(tmp_path / "root", tmp_path / "dl", rar_url=url, rar_sha256=None, rar_size=None,
                       splits_url=url + ".zip", splits_sha256=None, splits_size=None, progress=False)
    msg = str(ei.value)
    assert "\n" not in msg and url in msg
    assert "data.source: folder with data.folder:" in msg
    assert not (tmp_path / "root").exists()
