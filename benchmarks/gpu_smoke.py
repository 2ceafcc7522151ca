"""GPU smoke run: the real ``vfp.training.train`` loop on CUDA (AMP, channels_last) for each model.

    python benchmarks/gpu_smoke.py seq2seq,autoencoder,multiscale_gan bf16

Uses in-memory clips of a random texture shifting 2 px per frame (no decord/ffmpeg needed on a GPU
box), 2 epochs each; checks that checkpoints, snapshots and logs are written. The frames are i.i.d.
noise, so PSNR stays near copy-last (~8 dB): this checks the code path, not learning.
"""
import json
import sys
import time

import torch
import yaml
from torch.utils.data import Dataset

from vfp.models.params import parse_model_config
from vfp.training import train


class Moving(Dataset):
    def __init__(self, n, T, seed):
        g = torch.Generator().manual_seed(seed)
        self.tex = torch.rand(n, 3, 64, 96, generator=g) * 2 - 1
        self.T = T
    def __len__(self): return len(self.tex)
    def __getitem__(self, i):
        frames = torch.stack([self.tex[i, :, :, 2 * t:2 * t + 64] for t in range(self.T)])
        return {"frames": frames, "video": f"v_Moving_g01_c{i:02d}", "start": 0}


raw = yaml.safe_load(open("params.yaml"))
out = {}
for model in sys.argv[1].split(","):
    raw["model"] = model
    raw["train"].update(device="cuda", amp=sys.argv[2], channels_last=True, epochs=2, num_workers=0, snapshot_every=1)
    cfg = parse_model_config(raw)
    n_in = {"seq2seq": 4, "autoencoder": 1, "multiscale_gan": 4}[model]
    n_out = cfg.model_section(model).n_output
    t0 = time.time()
    summary = train(cfg, out_dir=f"/tmp/gpu_run/{model}", max_epochs=2,
                    train_data=Moving(64, n_in + n_out, 0), val_data=Moving(8, n_in + 4, 1), progress=False)
    out[model] = {"seconds": round(time.time() - t0, 1), "best_psnr_t1": summary.get("best_psnr_t1"),
                  "checkpoint": summary.get("checkpoint"), "device": torch.cuda.get_device_name()}
    print(model, out[model], flush=True)
print(json.dumps(out))
