"""Clip augmentation: every frame of a clip gets the same transform; draws follow the RNG."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vfp.data.augment import ClipAugment, crop_rescale, from_train_config
from vfp.data.clips import ClipDataset
from vfp.data.video import VideoEntry


def _clip(t=5, h=16, w=20, seed=0) -> torch.Tensor:
    """A clip whose frame k is frame 0 shifted right by k pixels (a pure pan), values in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, h, w + t, generator=g) * 2 - 1
    return torch.stack([base[:, :, t - k: t - k + w] for k in range(t)])


def _draws(aug: ClipAugment, clip: torch.Tensor, n: int = 40) -> list[torch.Tensor]:
    return [aug(clip, np.random.default_rng(i)) for i in range(n)]


def test_flip_is_the_same_for_every_frame():
    clip = _clip()
    outs = _draws(ClipAugment(flip=True, reverse=False), clip)
    flipped = [o for o in outs if not torch.equal(o, clip)]
    assert 5 < len(flipped) < 35  # about half
    for o in flipped:
        assert torch.equal(o, clip.flip(-1))  # all frames flipped, none left as they were


def test_reverse_plays_the_clip_backwards():
    clip = _clip()
    outs = [o for o in _draws(ClipAugment(flip=False, reverse=True), clip) if not torch.equal(o, clip)]
    assert outs
    for o in outs:
        assert torch.equal(o, clip.flip(0))
        # the pan now goes left: frame k+1 is frame k shifted left by one pixel
        assert torch.equal(o[1][..., :-1], o[0][..., 1:])


def test_crop_rescale_same_box_for_every_frame():
    clip = _clip(t=4, h=32, w=32)
    clip[:] = clip[0]  # a still clip: a consistent crop keeps it still
    aug = ClipAugment(flip=False, reverse=False, scale=0.6)
    for out in _draws(aug, clip, 10):
        assert out.shape == clip.shape and out.min() >= -1 and out.max() <= 1
        assert all(torch.equal(out[k], out[0]) for k in range(1, 4))
    moving = _clip(t=4, h=32, w=40)
    out = crop_rescale(moving, 0.5, 0.3, 0.7)
    per_frame = torch.stack([crop_rescale(moving[k:k + 1], 0.5, 0.3, 0.7)[0] for k in range(4)])
    assert torch.allclose(out, per_frame)  # one box and one resize for all frames
    assert torch.equal(crop_rescale(moving, 1.0, 0.5, 0.5), moving)


def test_dataset_applies_augment_deterministically(tmp_path, write_video, moving_frames):
    path = write_video(tmp_path / "Pan" / "pan.avi", moving_frames(20, 32, 32, dx=2))
    video = VideoEntry(path, 20)
    plain = ClipDataset([video], 4, 2, (32, 32), starts="all")
    aug = ClipDataset([video], 4, 2, (32, 32), starts="all", augment=ClipAugment(flip=True, reverse=True))
    same = [torch.equal(aug[i]["frames"], aug[i]["frames"]) for i in range(4)]
    assert all(same)  # a draw is a pure function of (seed, epoch, index)
    changed = [not torch.equal(aug[i]["frames"], plain[i]["frames"]) for i in range(len(plain))]
    assert any(changed) and not all(changed)


def test_from_train_config_and_bad_scale():
    class T:
        augment_flip, augment_reverse, augment_scale = False, False, 1.0
    assert from_train_config(T) is None
    T.augment_scale = 0.8
    assert from_train_config(T) == ClipAugment(flip=False, reverse=False, scale=0.8)
    with pytest.raises(ValueError, match="scale"):
        ClipAugment(scale=0)
