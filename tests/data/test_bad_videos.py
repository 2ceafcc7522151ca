"""Issue 7: a dataset folder with broken and odd videos.

Unreadable files (zero bytes, random bytes, a truncated mp4 whose index promises missing data) are
skipped by the motion filter and the split with one warning line each and counted in motion.json;
readable odd ones (truncated AVI, grayscale, 176x144 at 15 fps, non-ASCII and space in the name) go
through the dataset as 3-channel frames at ``size``; a 2-worker DataLoader finishes; a folder with
nothing usable is one clear error.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from vfp.data.clips import ClipDataset
from vfp.data.motion import motion_filter
from vfp.data.sources import mirror_folder
from vfp.data.splits import make_splits, read_split
from vfp.errors import VfpError

UNREADABLE = {
    "Broken/v_Broken_g01_c01.avi": "zero bytes",
    "Broken/v_Broken_g03_c01.mp4": "random bytes",
    "Broken/v_Broken_g04_c01.mp4": "truncated mp4 (index first, data cut)",
}
UNREADABLE_KEYS = list(UNREADABLE)
TRUNCATED_AVI = "Broken/v_Broken_g02_c01.avi"
SHORT = "Odd/v_Odd_g01_c01.avi"
GREY = "Odd/v_Odd_g02_c01.avi"
SMALL = "Odd/v_Odd_g03_c01.mp4"
SPACE = "Odd/v_Odd_g04_c01 copy.avi"
UNICODE = "Ünïcode/v_Ünïcode_g01_c01.avi"
SIZE = (64, 64)


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, write_video, moving_frames) -> Path:
    folder = tmp_path_factory.mktemp("bad") / "videos"
    frames = moving_frames(24, 240, 320, dx=4, dy=1)
    for g in (1, 2, 3):
        write_video(folder / "Good" / f"v_Good_g{g:02d}_c01.avi", moving_frames(24, 240, 320, dx=3, seed=g))
    (folder / "Broken").mkdir()
    (folder / UNREADABLE_KEYS[0]).write_bytes(b"")
    whole = write_video(folder / "whole.avi", frames).read_bytes()
    (folder / "whole.avi").unlink()
    (folder / TRUNCATED_AVI).write_bytes(whole[: len(whole) // 2])
    (folder / UNREADABLE_KEYS[1]).write_bytes(np.random.default_rng(0).bytes(30_000))
    mp4 = write_video(folder / "whole.mp4", frames, codec="libx264", extra=("-movflags", "+faststart")).read_bytes()
    (folder / "whole.mp4").unlink()
    (folder / UNREADABLE_KEYS[2]).write_bytes(mp4[: len(mp4) // 2])
    write_video(folder / SHORT, frames[:3])
    write_video(folder / GREY, frames.mean(axis=-1).astype(np.uint8), codec="ffv1", pix_fmt="gray")
    write_video(folder / SMALL, frames[:, :144, :176], fps=15)
    write_video(folder / SPACE, frames[:, ::-1])
    write_video(folder / UNICODE, frames[:, :, ::-1])
    return folder



@pytest.fixture(scope="module")
def bad_pipeline(bad_folder, tmp_path_factory):
    work = tmp_path_factory.mktemp("bad_work")
    mirror_folder(bad_folder, work / "raw")
    return work


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_motion_filter_skips_unreadable_with_one_warning_each(bad_pipeline, capfd):
    root = bad_pipeline / "raw"
    capfd.readouterr()
    result = motion_filter(root, bad_pipeline / "motion.json", size=32, frames=8, mode="absolute", threshold=1.0)
    err = capfd.readouterr().err
    on_disk = json.loads((bad_pipeline / "motion.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert {s["file"] for s in on_disk["skipped"]} == set(UNREADABLE)
    assert on_disk["n_skipped"] == len(UNREADABLE)
    assert all(s["reason"] for s in on_disk["skipped"])
    warnings = _warnings(err)
    assert len(warnings) == len(UNREADABLE), err
    for rel in UNREADABLE:
        mine = [w for w in warnings if rel in w]
        assert len(mine) == 1, (rel, warnings)
        reason = next(s["reason"] for s in on_disk["skipped"] if s["file"] == rel)
        assert reason in mine[0]
    assert all("\n" not in s["reason"] and "Traceback" not in s["reason"] for s in on_disk["skipped"])
    videos = on_disk["videos"]
    assert 0 < videos[TRUNCATED_AVI]["n_frames"] < 24  # readable part of a cut AVI, clamped
    assert videos[SHORT]["n_frames"] == 3
    for rel in (GREY, SMALL, SPACE, UNICODE, "Good/v_Good_g01_c01.avi"):
        assert videos[rel]["n_frames"] == 24, rel


def test_pyav_backend_skips_and_counts_the_same(bad_pipeline, capfd):
    """data.decoder: pyav on the same folder: same unreadable files, same frame counts as decord's."""
    pytest.importorskip("decord")
    root = bad_pipeline / "raw"
    out = {}
    for name in ("decord", "pyav"):
        out[name] = motion_filter(root, bad_pipeline / f"motion-{name}.json", size=32, frames=8, mode="absolute",
                                  threshold=1.0, decoder=name)
    assert {s["file"] for s in out["pyav"]["skipped"]} == set(UNREADABLE)
    warnings = _warnings(capfd.readouterr().err)
    assert len(warnings) == 2 * len(UNREADABLE), warnings  # one line per unreadable file and backend
    counts = {name: {k: v["n_frames"] for k, v in r["videos"].items()} for name, r in out.items()}
    assert counts["pyav"] == counts["decord"]


@pytest.fixture(scope="module")
def bad_split(bad_pipeline):
    root = bad_pipeline / "raw"
    if not (bad_pipeline / "motion.json").is_file():
        motion_filter(root, bad_pipeline / "motion.json", size=32, frames=8, mode="absolute", threshold=1.0)
    summary = make_splits(root, bad_pipeline / "motion.json", bad_pipeline / "split", official=1,
                          val_fraction=0.0, seed=0)
    entries = [e for n in ("train", "val", "test") for e in read_split(bad_pipeline / "split", n)]
    return summary, entries


def test_split_leaves_unreadable_out_and_counts_them(bad_split, bad_pipeline):
    summary, entries = bad_split
    rels = {f"{e.path.parent.name}/{e.path.name}" for e in entries}
    assert not rels & set(UNREADABLE)
    assert {SPACE, UNICODE, GREY, SMALL, TRUNCATED_AVI} <= rels  # odd names survive the tab-separated lists
    assert summary["missing_or_skipped"] == len(UNREADABLE)
    assert all(e.path.is_file() for e in entries)


def test_dataset_handles_readable_odd_videos(bad_split, capfd):
    _, entries = bad_split
    by_rel = {f"{e.path.parent.name}/{e.path.name}": e for e in entries}
    assert by_rel[TRUNCATED_AVI].n_frames >= 4
    ds = ClipDataset(list(by_rel.values()), 4, 1, SIZE, random_start=False)
    assert [s["file"] for s in ds.skipped] == [str(by_rel[SHORT].path)]  # 3 frames < span 4
    assert "too short" in capfd.readouterr().err
    stems = [v.path.stem for v in ds.videos]
    for rel in (GREY, SMALL, SPACE, UNICODE, TRUNCATED_AVI):
        item = ds[stems.index(Path(rel).stem)]
        x = item["frames"]
        assert x.shape == (4, 3, *SIZE) and x.dtype == torch.float32 and x.std() > 0.02, rel
    grey = ds[stems.index(Path(GREY).stem)]["frames"]
    assert (grey[:, 0] - grey[:, 1]).abs().max() <= 2 / 127.5 and (grey[:, 1] - grey[:, 2]).abs().max() <= 2 / 127.5


LOADER_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    from vfp.data.clips import ClipDataset
    from vfp.data.video import VideoEntry, list_videos
    root = Path(sys.argv[1])
    paths = list_videos(root)
    # every file, probed (unreadable ones skipped) plus two unreadable ones that slipped through as
    # entries (as if they broke after the split): __getitem__ must warn and use another video
    ds = ClipDataset(paths, 4, 1, (64, 64), random_start=True, clips_per_video=2)
    bad = [VideoEntry(root / p, 24) for p in sys.argv[2:]]
    ds.videos.extend(bad)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, timeout=60)
    n, shapes = 0, set()
    for epoch in range(2):
        ds.set_epoch(epoch)
        for batch in loader:
            n += batch["frames"].shape[0]
            shapes.add(tuple(batch["frames"].shape[1:]))
    print(json.dumps({"items": n, "len": len(ds), "shapes": sorted(shapes), "skipped": len(ds.skipped)}))
""")


def test_dataloader_two_workers_finishes_over_everything(bad_pipeline):
    root = bad_pipeline / "raw"
    proc = subprocess.run([sys.executable, "-c", LOADER_SCRIPT, str(root), *UNREADABLE_KEYS[:2]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["items"] == 2 * out["len"] and out["len"] == 2 * (9 - 1 + 2)  # 9 readable, 1 too short, 2 bad
    assert out["shapes"] == [[4, 3, 64, 64]]
    assert out["skipped"] == len(UNREADABLE) + 1
    assert "Traceback" not in proc.stderr
    assert "in this epoch" in proc.stderr


def test_nothing_usable_is_one_clear_error(bad_folder, tmp_path):
    root = tmp_path / "raw"
    for rel in UNREADABLE:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((bad_folder / rel).read_bytes())
    with pytest.raises(VfpError) as err:
        motion_filter(root, tmp_path / "motion.json", size=32, frames=8, mode="absolute", threshold=1.0)
    message = str(err.value)
    assert "\n" not in message and "no readable videos" in message and f"{len(UNREADABLE)} skipped" in message
    assert not (tmp_path / "motion.json").exists()
