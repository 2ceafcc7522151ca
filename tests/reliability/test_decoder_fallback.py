"""``data.decoder: auto`` reads a video decord cannot read with PyAV (issue: settings silently ignored; such
a video was skipped with decord's internal message). AV1 in Matroska: decord 0.6's FFmpeg cannot open it."""
from __future__ import annotations

import numpy as np
import pytest

from vfp.data import decode_pyav
from vfp.data.clips import ClipDataset
from vfp.data.stream import iter_frames
from vfp.data.video import VideoReadError, decord_importable, probe, read_all


@pytest.fixture(scope="module")
def av1_video(tmp_path_factory, write_video, moving_frames):
    path = tmp_path_factory.mktemp("av1") / "Walk" / "v_Walk_g01_c01.mkv"
    return write_video(path, moving_frames(12, 48, 64), codec="libaom-av1", extra=("-cpu-used", "8"))


@pytest.fixture
def decord_cannot_read(av1_video):
    if not decord_importable():
        pytest.skip("decord is not installed here: auto is PyAV alone")  # aarch64 / Apple silicon: no wheel
    from vfp.data import decode_decord

    with pytest.raises(VideoReadError):
        decode_decord.count(av1_video)
    return av1_video


def test_auto_reads_with_pyav_what_decord_cannot(decord_cannot_read):
    path = decord_cannot_read
    assert probe(path, "auto") == 12
    frames = read_all(path, (32, 48), decoder="auto")
    np.testing.assert_array_equal(frames, decode_pyav.read(path, list(range(12)), (32, 48)))
    assert len(list(iter_frames(path, (32, 48), decoder="auto"))) == 12
    with pytest.raises(VideoReadError):  # an explicit decord is honoured: no silent switch
        probe(path, "decord")


def test_clip_dataset_with_auto_keeps_the_video(decord_cannot_read, tmp_path):
    for cache in (None, tmp_path / "cache"):
        data = ClipDataset([decord_cannot_read], n_frames=4, interval=2, size=(32, 48), cache_dir=cache,
                           decoder="auto")
        assert len(data.videos) == 1 and not data.skipped
        assert data[0]["frames"].shape == (4, 3, 32, 48)
