"""Every saved weight file of a training run against copy-last and flow on one split list, t+1..t+H.

An analysis of a finished run, not a selection: training exports the epoch that validation picks
(vfp.handlers.selection); this script shows what the other saved epochs (``checkpoint_<iteration>.pt``,
``best_model_*.pt``) would have scored, e.g. on the test list, and what a flip self-ensemble (the mean of the
prediction and the mirrored prediction of the mirrored clip) gives the model and the flow baseline alike.
Run it in the project folder of the run (params.yaml, data/split):

    python benchmarks/checkpoints.py models/autoencoder [--split test] [--clips-per-video 8] [--flip]

PSNR of the pooled MSE per step (model space [-1, 1], peak-to-peak 2, as `evaluate` scores it); gains are
the weight file's PSNR minus copy-last's and flow's (params.yaml's flow.method). Result:
benchmarks/results/checkpoints_<run>_<split>.json (or --out).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from common import RESULTS
from loader import write_results

from vfp.baselines import predictors
from vfp.config import decode_size
from vfp.data.loaders import test_dataset
from vfp.data.splits import read_split
from vfp.modelio import load_trained
from vfp.models.params import load_model_config


def psnr_per_step(pred: torch.Tensor, true: torch.Tensor) -> list[float]:
    """``[N, H, C, h, w]`` predictions and truth -> PSNR of the pooled MSE at each of the H steps."""
    mse = (pred.float() - true.float()).pow(2).mean(dim=(0, 2, 3, 4))
    return [round(float(10 * torch.log10(4 / m.clamp_min(1e-12))), 3) for m in mse]


def batched(fn, context: torch.Tensor, horizon: int, flip: bool) -> torch.Tensor:
    """``fn(context, horizon)`` over batches of 16; ``flip``: averaged with its mirrored-clip prediction."""
    out = []
    for part in context.split(16):
        pred = fn(part, horizon)
        out.append((pred + fn(part.flip(-1), horizon).flip(-1)) / 2 if flip else pred)
    return torch.cat(out)


def error_share(pred: torch.Tensor, true: torch.Tensor) -> list[float]:
    """Share of the pooled squared error held by the worst 1, 2, ... clips (``[N, C, h, w]`` each)."""
    per_clip = (pred.float() - true.float()).pow(2).mean(dim=(1, 2, 3)).sort(descending=True).values
    return (per_clip.cumsum(0) / per_clip.sum()).tolist()


def weight_files(run: Path) -> list[Path]:
    files = sorted(run.glob("checkpoint_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return [*files, *sorted(run.glob("best_model_*.pt"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run folder (models/<model>) with model.pt and checkpoints")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--clips-per-video", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--flip", action="store_true", help="also score the flip self-ensemble")
    parser.add_argument("--params", default="params.yaml", help="the run's params (default: %(default)s)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    cfg = load_model_config(args.params)
    name, model = load_trained(args.run / "model.pt")
    data = test_dataset(read_split(Path("data/split"), args.split), n_frames=model.n_input + args.horizon,
                        interval=cfg.data.interval, size=decode_size(cfg.data.size),
                        clips_per_video=args.clips_per_video, cache_dir=Path(cfg.data.cache) if cfg.data.cache
                        else None, decoder=cfg.data.decoder)
    items = [data[i] for i in range(len(data))]
    clips = torch.stack([it["frames"] for it in items if it.get("ok", True)]).float()  # model space [-1, 1]
    context, truth = clips[:, :model.n_input], clips[:, model.n_input:]
    flips = (False, True) if args.flip else (False,)
    baselines = {f"{b}{'_flip' if f else ''}": batched(fn, context, args.horizon, f)
                 for b, fn in predictors(cfg.flow.method, cfg.flow.preset).items() for f in flips}
    share = error_share(baselines["flow"][:, 0], truth[:, 0])
    scores = {key: psnr_per_step(pred, truth) for key, pred in baselines.items()}
    for path in [args.run / "model.pt", *weight_files(args.run)]:
        if path.name != "model.pt":
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(saved.get("model", saved))  # a checkpoint holds more than the weights
        for f in flips:
            key = f"{path.name}{' flip' if f else ''}"
            scores[key] = psnr_per_step(batched(model, context, args.horizon, f), truth)
            gains = [round(m - b, 3) for m, b in zip(scores[key], scores["flow"])]
            print(f"{key:>40}: PSNR t+1 {scores[key][0]:.2f}, gain over flow {gains}", flush=True)
    print(f"flow: {scores['flow']}, copy-last: {scores['copy_last']}, {len(clips)} clips of {args.split}; "
          f"share of flow's pooled t+1 error in its worst 2 / 10 clips: {share[min(1, len(share) - 1)]:.2f} / "
          f"{share[min(9, len(share) - 1)]:.2f}")
    out = write_results(f"checkpoints_{args.run.name}_{args.split}", args.out,
                        {"model": name, "run": str(args.run), "split": args.split, "clips": len(clips),
                         "clips_per_video": args.clips_per_video, "psnr": scores,
                         "flow_error_share_worst_clips": [round(v, 4) for v in share[:20]]}, script="checkpoints")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
