"""multiscale_gan's generator alone (lam_adv 0): validation gain over its base (copy-last, or flow with
``base=flow``) after N iterations for a given Lp exponent and GDL weight, and, before the first update, the
norms of the Lp and GDL gradients (summed over the scales) with respect to the generator's weights and their
cosine on a batch of 64 training clips, and the cosine of the Lp gradients of two such batches. Run in a
project whose data stages ran (data/split, data/cache at 64x64):

    python benchmarks/gan_gdl.py p=2 gdl=1.0 iters=50 every=50 [lr=1e-3] [base=copy_last]

Measured on real + real-more as one flat folder (docs/models.md: "Why the GAN stayed at copy-last").
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from ignite.engine import Events

from vfp.data.clips import ClipDataset
from vfp.data.splits import read_split
from vfp.engines.gan import create_gan_trainer
from vfp.flow import extrapolate
from vfp.frames import resize_to_scales, to_pixels
from vfp.losses import gdl_loss, lp_loss
from vfp.models.base import build_predictor
from vfp.models.sections import GanLoss, GanSchedule


def _sq_err(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (to_pixels(a) - to_pixels(b)).pow(2).mean()


def gradient_report(model: torch.nn.Module, batches: list[torch.Tensor], p: int) -> str:
    """On the first batch: ``|grad Lp|``, ``|grad GDL|`` (generator weights, losses summed over scales) and
    their cosine; and the cosine of the Lp gradients of the first two batches (how consistent L2's pull is)."""
    params = [w for w in model.parameters() if w.requires_grad]

    def flat_grad(clips: torch.Tensor, loss_fn) -> torch.Tensor:
        preds = model.predict_scales(clips[:, :4])
        targets = resize_to_scales(clips[:, 4], [pr.shape[-2:] for pr in preds])
        loss = sum(loss_fn(pr, t) for pr, t in zip(preds, targets))
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return torch.cat([(g if g is not None else torch.zeros_like(w)).flatten() for g, w in zip(grads, params)])

    def cos(a: torch.Tensor, b: torch.Tensor) -> float:
        return torch.nn.functional.cosine_similarity(a, b, dim=0).item()

    g_lp = flat_grad(batches[0], lambda pr, t: lp_loss(pr, t, p))
    g_gdl = flat_grad(batches[0], lambda pr, t: gdl_loss(pr, t, 1.0))
    g_lp2 = flat_grad(batches[1], lambda pr, t: lp_loss(pr, t, p))
    return (f"start: |grad Lp| {g_lp.norm():.3g}, |grad GDL| {g_gdl.norm():.3g} ({g_gdl.norm() / g_lp.norm():.1f}x), "
            f"cos(Lp, GDL) {cos(g_lp, g_gdl):+.3f}, cos(Lp batch 1, Lp batch 2) {cos(g_lp, g_lp2):+.3f}")


def main(args: dict[str, str]) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    iters, every = int(args.get("iters", 150)), int(args.get("every", 50))
    net = {"n_input": 4, "scales": [4, 16, 32, 64], "residual": True, "residual_base": "last_frame"}
    cache = Path("data/cache")
    train = ClipDataset(read_split(Path("data/split"), "train"), 5, 2, (64, 64), starts="all", max_clips=100000,
                        cache_dir=cache, seed=0)
    val = ClipDataset(read_split(Path("data/split"), "val"), 5, 2, (64, 64), starts="all", stride=2, max_clips=128,
                      cache_dir=cache)
    clips = torch.stack([val[i]["frames"] for i in range(len(val))]).float()
    base_name = args.get("base", "copy_last")
    model = build_predictor("multiscale_gan", net, base_name, {"method": "dis"})
    base = clips[:, 3] if base_name == "copy_last" else extrapolate(clips[:, :4], 1, "dis", "medium")[:, 0]
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:128].tolist()
    first = [torch.stack([train[i]["frames"] for i in part]).float() for part in (pick[:64], pick[64:])]
    print(gradient_report(model, first, int(args.get("p", 2))))
    opt = torch.optim.Adam(model.parameters(), lr=float(args.get("lr", 1e-3)))
    loss = GanLoss(lam_adv=0.0, p=int(args.get("p", 2)), lam_gdl=float(args.get("gdl", 1.0)))
    trainer, _ = create_gan_trainer(model, None, opt, None, loss, GanSchedule(), grad_clip=1.0)
    gen = torch.Generator().manual_seed(0)

    def batches():
        while True:
            idx = torch.randint(0, len(train), (16,), generator=gen).tolist()
            yield {"frames": torch.stack([train[i]["frames"] for i in idx]).float()}

    started = time.time()

    @trainer.on(Events.ITERATION_COMPLETED(every=every))
    def _validate(engine) -> None:
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(clips[i:i + 64, :4], 1) for i in range(0, len(clips), 64)])[:, 0]
        model.train()
        gain = 10 * torch.log10(_sq_err(base, clips[:, 4]) / _sq_err(pred, clips[:, 4])).item()
        moved = (to_pixels(pred) - to_pixels(base)).abs().mean().item()
        print(f"it {engine.state.iteration}: val gain over {base_name} {gain:+.3f} dB, mean |pred-base| {moved:.3f} "
              f"grey, loss_g {engine.state.output['loss_g']:.4f}, {time.time() - started:.0f}s", flush=True)

    trainer.run(batches(), max_epochs=1, epoch_length=iters)


if __name__ == "__main__":
    main(dict(arg.split("=", 1) for arg in sys.argv[1:]))
