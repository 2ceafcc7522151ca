"""train.crop 32 with the default multi-scale GAN: the discriminator is derived from the crop (its coarsest
scale is 2x2, smaller than the first 3x3 conv: that conv is padded) and one epoch trains G against D."""
from __future__ import annotations

import torch

from vfp.handlers.checkpoint import checkpoint_files
from vfp.models.multiscale import MultiScaleGenerator
from vfp.models.params import parse_model_config
from vfp.training import train


class Clips(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        f = torch.full((8, 3, 64, 64), -1.0)
        for t in range(8):
            f[t, :, 10 + i : 26 + i, 4 * t : 4 * t + 16] = 1.0
        return {"frames": f, "video": f"v{i}", "start": 0}


def test_default_discriminator_fits_every_crop_the_generator_takes():
    g = MultiScaleGenerator()  # default scales (4, 16, 32, 64)
    for size in (16, 32, 48, 64):
        d = g.make_discriminator(size)
        logits = d([torch.zeros(2, 3, s, s) for s in d.sizes])
        assert logits.shape == (2, 4), size
    d = g.make_discriminator(32, conditional=True)  # the conditional D (context frames + frame) too
    assert d([torch.zeros(1, 3, s, s) for s in d.sizes], torch.zeros(1, 4, 3, 32, 32)).shape == (1, 4)


def test_crop_32_with_the_default_gan_trains_one_epoch(tmp_path):
    cfg = parse_model_config({"model": "multiscale_gan", "data": {"size": [64, 64]}, "evaluate": {"horizon": 2},
                        "train": {"epochs": 1, "batch_size": 4, "num_workers": 0, "crop": 32, "snapshot_videos": 0},
                        "multiscale_gan": {"schedule": {"g_warmup_epochs": 0}}}, "params")
    summary = train(cfg, out_dir=tmp_path, train_data=Clips(), val_data=Clips(), progress=False)
    assert summary["epoch"] == 1 and summary["exported_phase"] == "joint"
    ckpt = torch.load(checkpoint_files(tmp_path)[-1][1], weights_only=True)
    assert "discriminator" in ckpt and "optimizer_d" in ckpt
    steps = (tmp_path / "logs" / "plots" / "metrics" / "train" / "loss_d.tsv").read_text().splitlines()
    assert len(steps) == 2  # header + epoch 1: D was trained on the 32x32 crops
