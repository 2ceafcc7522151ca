"""Multi-scale generator (+ optional discriminator) trainer (the ``gan`` recipe), after Mathieu et al. (2016).

Per iteration (Ignite dcgan style): update D ``d_steps`` times on real vs DETACHED fake
frames at every scale, then update G with ``multiscale_generator_loss`` (Lp + GDL at every
scale, plus the adversarial term on D's logits of the non-detached fake).

Schedule by epoch (1-based), ``g = g_warmup_epochs``, ``d = d_warmup_epochs``:

* epochs ``1..g``        G-only warm-up: G trained with Lp + GDL, D neither run nor updated;
* epochs ``g+1..g+d``    D warm-up: D trained, G still trained without the adversarial term;
* later epochs           full GAN: D then G with ``lam_adv``.

``lam_adv == 0`` (or ``discriminator is None``) is the non-GAN multi-scale model: no D at all.
With ``n_output > 1`` the generator is teacher-forced over the steps and losses averaged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from ignite.engine import Engine
from torch import nn

from vfp.engines.common import (
    Keys,
    autocast,
    effective_amp,
    make_scaler,
    optimizer_step,
    prepare_frames,
    random_crop,
    resolve_device,
    split_clip,
    unwrap,
)
from vfp.losses import d_loss, multiscale_generator_loss, resize_to_scales

if TYPE_CHECKING:
    from vfp.recipes.gan import GanLoss, GanSchedule


class ScalesForward(nn.Module):
    """``forward(context) -> generator.predict_scales(context)``.

    Wrap the generator in this BEFORE ``idist.auto_model`` so that DDP sees the call
    whose gradients it must synchronise (``predict_scales`` is not ``forward``).
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, context: torch.Tensor) -> list[torch.Tensor]:
        return self.generator.predict_scales(context)


def gan_phase(epoch: int, schedule: GanSchedule) -> str:
    """``g_warmup`` | ``d_warmup`` | ``joint`` for a 1-based epoch."""
    if epoch <= schedule.g_warmup_epochs:
        return "g_warmup"
    if epoch <= schedule.g_warmup_epochs + schedule.d_warmup_epochs:
        return "d_warmup"
    return "joint"


def create_gan_trainer(
    generator: nn.Module,
    discriminator: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer | None,
    loss_cfg: GanLoss,
    schedule_cfg: GanSchedule,
    *,
    n_output: int = 1,
    grad_clip: float = 1.0,
    device: str | torch.device = "cpu",
    amp: str = "none",
    crop: int = 0,
    channels_last: bool = False,
) -> Engine:
    """Engine training a ``MultiScaleGenerator`` (plain, ``ScalesForward``-wrapped or DDP of that).

    Output dict: ``loss_g``, ``lp_s{k}``, ``gdl_s{k}`` for every scale k, and when D ran this
    iteration ``loss_d``, ``d_real``, ``d_fake`` (mean sigmoid of D's logits), ``adv_s{k}``.
    """
    device = resolve_device(device)
    amp = effective_amp(amp, device)
    g_call = generator if isinstance(unwrap(generator), ScalesForward) else ScalesForward(generator)
    g_plain = unwrap(g_call).generator
    use_d = discriminator is not None and loss_cfg.lam_adv != 0
    if use_d and opt_d is None:
        raise ValueError("a discriminator needs its optimizer opt_d")
    d_plain = unwrap(discriminator) if use_d else None
    conditional = bool(getattr(d_plain, "conditional", False))
    scales: Sequence[int] = g_plain.scales
    n_input = g_plain.n_input
    scaler_g, scaler_d = make_scaler(amp, device), make_scaler(amp, device)

    def step(engine: Engine, batch) -> dict[str, float]:
        phase = gan_phase(engine.state.epoch, schedule_cfg)
        update_d = use_d and phase != "g_warmup"
        adversarial = use_d and phase == "joint"
        g_call.train()
        frames = random_crop(prepare_frames(batch, device, channels_last=channels_last), crop)
        context, future = split_clip(frames, n_input, n_output)
        seq = torch.cat([context, future], dim=1)
        contexts = [seq[:, k : k + n_input] for k in range(n_output)]  # teacher forcing
        targets = [resize_to_scales(future[:, k], g_plain.scale_sizes(*future.shape[-2:])) for k in range(n_output)]
        out: dict[str, float] = {}

        if update_d:
            discriminator.train()
            with torch.no_grad(), autocast(amp, device):
                fakes = [[p.float() for p in g_plain.predict_scales(c)] for c in contexts]
            for _ in range(schedule_cfg.d_steps):
                opt_d.zero_grad(set_to_none=True)
                loss_d = 0.0
                real_p = fake_p = 0.0
                for c, real, fake in zip(contexts, targets, fakes):
                    with autocast(amp, device):
                        both = discriminator(
                            [torch.cat([r, f]) for r, f in zip(real, fake)],
                            torch.cat([c, c]) if conditional else None,
                        ).float()
                    real_logits, fake_logits = both.chunk(2)
                    loss_d = loss_d + d_loss(real_logits, fake_logits) / n_output
                    real_p += torch.sigmoid(real_logits).mean().item() / n_output
                    fake_p += torch.sigmoid(fake_logits).mean().item() / n_output
                optimizer_step(loss_d, opt_d, discriminator.parameters(), grad_clip, scaler_d)
            out[Keys.LOSS_D.value] = loss_d.item()
            out[Keys.D_REAL.value] = real_p
            out[Keys.D_FAKE.value] = fake_p

        opt_g.zero_grad(set_to_none=True)
        if adversarial:  # D frozen (no grads accumulated into D), called unwrapped: no DDP sync
            d_plain.requires_grad_(False)
        try:
            total = 0.0
            parts: dict[str, float] = {}
            for c, target in zip(contexts, targets):
                with autocast(amp, device):
                    preds = [p.float() for p in g_call(c)]
                    fake_logits = d_plain(preds, c if conditional else None).float() if adversarial else None
                losses = multiscale_generator_loss(
                    preds, target, fake_logits,
                    lam_lp=loss_cfg.lam_lp, lam_gdl=loss_cfg.lam_gdl,
                    lam_adv=loss_cfg.lam_adv if adversarial else 0.0,
                    p=loss_cfg.p, alpha=loss_cfg.alpha, scales=scales,
                )
                total = total + losses.pop("total") / n_output
                for key, value in losses.items():
                    parts[key] = parts.get(key, 0.0) + value.item() / n_output
            optimizer_step(total, opt_g, g_call.parameters(), grad_clip, scaler_g)
        finally:
            if adversarial:
                d_plain.requires_grad_(True)
        out[Keys.LOSS_G.value] = total.item()
        out.update(parts)
        return out

    engine = Engine(step)
    engine.scaler, engine.scaler_d = scaler_g, scaler_d  # exposed so the checkpoint saves them (fp16 only)
    return engine
