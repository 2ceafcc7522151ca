import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from vfp.frames import to_model
from vfp.gif import CONTEXT_COLOUR, EXPECTED_COLOUR, GENERATED_COLOUR, TIMELINE_HEIGHT, gif_frame_count, write_gif_pair


def _frames(n, c, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return to_model(torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8))


@pytest.mark.parametrize("channels", [1, 3])
def test_gif_pair(tmp_path, channels):
    n_in, t, h, w = 3, 4, 8, 10
    ctx = _frames(n_in, channels, h, w, 0)
    target = _frames(t, channels, h, w, 1)
    pred = _frames(t, channels, h, w, 2)
    exp, gen = write_gif_pair(ctx, pred, target, tmp_path / "gifs", "clip_007", scale=4, fps=4)
    assert exp.name == "clip_007_expected_large.gif"
    assert gen.name == "clip_007_generated_large.gif"
    assert exp.is_file() and gen.is_file()
    assert sorted(p.name for p in (tmp_path / "gifs").iterdir()) == sorted([exp.name, gen.name])  # no temp left
    for p in (exp, gen):
        assert gif_frame_count(p) == n_in + t
        frames = iio.imread(p, plugin="pillow", index=None)
        assert frames.shape[0] == n_in + t
        assert frames.shape[1:3] == (h * 4 + TIMELINE_HEIGHT, w * 4)
        with Image.open(p) as im:
            assert im.format == "GIF"
            assert im.info.get("loop") == 0
            assert im.info.get("duration") == 250


def test_gif_content_grayscale_exact(tmp_path):
    ctx = to_model(torch.tensor([[[[0, 255], [128, 64]]]], dtype=torch.uint8))
    fut = to_model(torch.tensor([[[[255, 0], [64, 128]]]], dtype=torch.uint8))
    exp, gen = write_gif_pair(ctx, fut, fut, tmp_path, "s", scale=3)
    frames = iio.imread(exp, plugin="pillow", index=None, mode="L")
    assert frames.shape == (2, 6 + TIMELINE_HEIGHT, 6)
    assert frames[0, 0, 0] == 0 and frames[0, 2, 2] == 0 and frames[0, 0, 3] == 255
    assert frames[1, 5, 5] == 128 and frames[1, 3, 0] == 64
    # nearest-neighbour blocks
    assert np.all(frames[0, :3, :3] == 0)


def test_gif_pair_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError):
        write_gif_pair(_frames(2, 1, 8, 8, 0), _frames(3, 1, 8, 8, 1), _frames(2, 1, 8, 8, 2), tmp_path, "x")
    with pytest.raises(ValueError):
        write_gif_pair(_frames(2, 2, 8, 8, 0), _frames(3, 2, 8, 8, 1), _frames(3, 2, 8, 8, 2), tmp_path, "x")


def test_static_prediction_keeps_every_frame_and_timeline(tmp_path):
    """A copy-last prediction repeats one frame; the timeline bar keeps all frames in the GIF."""
    ctx = _frames(4, 3, 8, 8, 0)
    still = ctx[-1:].repeat(3, 1, 1, 1)
    exp, gen = write_gif_pair(ctx, still, still, tmp_path, "still", scale=2)
    frames = iio.imread(gen, plugin="pillow", index=None)
    assert frames.shape[0] == 4 + 3
    bar = frames[:, -1]  # last row: the timeline
    assert tuple(bar[0, 0]) == CONTEXT_COLOUR  # context frame: grey
    assert tuple(bar[-1, -1]) == GENERATED_COLOUR  # last predicted frame: full red bar
    assert (bar[0] == 0).all(axis=-1).sum() > (bar[-1] == 0).all(axis=-1).sum()  # the bar grows
    assert tuple(iio.imread(exp, plugin="pillow", index=None)[-1, -1, -1]) == EXPECTED_COLOUR
