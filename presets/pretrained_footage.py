"""Gather the pretrained model's footage into one `data.source: folder` tree, with its held-out test videos.

    python presets/pretrained_footage.py ../shared/fixtures data/footage

writes (hard links where possible, else copies) ``data/footage/``:

* ``Archery/``, ``HorseRace/``, ``PlayingPiano/``: ``ucf101-mini`` (UCF-101 split 1: groups 8-15 train, 1-4 test);
* ``Real/``: the videos of ``real/`` and ``real-more/`` (each video its own group);
* ``ucfTrainTestlist/``: ``trainlist01.txt`` / ``testlist01.txt`` / ``classInd.txt``: UCF's own lists, then
  every ``Real/`` video for training except :data:`HELD_OUT`, which are listed for test only (no frame of
  them is trained on or used for validation).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

UCF = "ucf101-mini"
LISTS = "ucfTrainTestlist"
REAL_FOLDERS = ("real", "real-more")
REAL_CLASS = "Real"
VIDEO = (".avi", ".mp4", ".mkv", ".webm")
# held out of training and validation: varied content, cameras and sizes (<= 640x360, so full-frame
# evaluation stays cheap); st-gcn_ta_chi.mp4 is the video the docs' examples continue
HELD_OUT = ("st-gcn_ta_chi.mp4", "bgslibrary_video02.avi", "moviepy_video_with_failing_audio.mp4",
            "decord_flipping_a_pancake.mkv", "basketball.mp4")


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def gather(fixtures: Path, out: Path) -> dict:
    ucf = fixtures / UCF
    classes = [ln.split()[1] for ln in lines(ucf / LISTS / "classInd.txt")]
    for cls in classes:
        for video in sorted((ucf / cls).iterdir()):
            link(video, out / cls / video.name)
    real = sorted(p for folder in REAL_FOLDERS for p in (fixtures / folder).iterdir() if p.suffix.lower() in VIDEO)
    missing = sorted(set(HELD_OUT) - {p.name for p in real})
    if missing:
        raise SystemExit(f"error: held-out videos not found in {fixtures}: {', '.join(missing)}")
    for video in real:
        link(video, out / REAL_CLASS / video.name)
    label = len(classes) + 1
    train = lines(ucf / LISTS / "trainlist01.txt") + [f"{REAL_CLASS}/{p.name} {label}" for p in real
                                                       if p.name not in HELD_OUT]
    test = lines(ucf / LISTS / "testlist01.txt") + [f"{REAL_CLASS}/{name}" for name in HELD_OUT]
    (out / LISTS).mkdir(parents=True, exist_ok=True)
    (out / LISTS / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes + [REAL_CLASS])))
    (out / LISTS / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (out / LISTS / "testlist01.txt").write_text("\n".join(test) + "\n")
    return {"ucf_train": len(train) - (len(real) - len(HELD_OUT)), "real_train": len(real) - len(HELD_OUT),
            "test": len(test), "held_out": list(HELD_OUT)}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.splitlines()[2].strip())
    print(gather(Path(sys.argv[1]), Path(sys.argv[2])))
