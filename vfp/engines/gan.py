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

from typing import TYPE_CHECKING

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
from vfp.frames import inner, resize_to_scales
from vfp.losses import d_loss, multiscale_generator_loss

if TYPE_CHECKING:
    from vfp.models.sections import GanLoss, GanSchedule


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


class _GanStep:
    """One iteration: D ``d_steps`` times on real vs detached fake (unless warming up G), then G."""

    def __init__(self, generator, discriminator, opt_g, opt_d, loss_cfg, schedule_cfg, *, n_output, grad_clip,
                 device, amp, crop, channels_last, margin=0):
        self.g_call = generator if isinstance(unwrap(generator), ScalesForward) else ScalesForward(generator)
        self.g_plain = unwrap(self.g_call).generator
        self.use_d = discriminator is not None and loss_cfg.lam_adv != 0
        if self.use_d and opt_d is None:
            raise ValueError("a discriminator needs its optimizer opt_d")
        self.d, self.d_plain = discriminator, unwrap(discriminator) if self.use_d else None
        self.conditional = bool(getattr(self.d_plain, "conditional", False))
        self.opt_g, self.opt_d, self.loss_cfg, self.schedule = opt_g, opt_d, loss_cfg, schedule_cfg
        self.n_output, self.grad_clip, self.device, self.amp = n_output, grad_clip, device, amp
        self.crop, self.channels_last, self.margin = crop, channels_last, margin
        self.scaler_g, self.scaler_d = make_scaler(amp, device), make_scaler(amp, device)

    def __call__(self, engine: Engine, batch) -> dict[str, float]:
        phase = gan_phase(engine.state.epoch, self.schedule)
        self.g_call.train()
        frames = random_crop(prepare_frames(batch, self.device, channels_last=self.channels_last), self.crop)
        context, future = split_clip(frames, self.g_plain.n_input, self.n_output)
        seq = torch.cat([context, future], dim=1)
        contexts = [seq[:, k : k + self.g_plain.n_input] for k in range(self.n_output)]  # teacher forcing
        future = inner(future, self.margin)  # the window G predicts (its flow base read the border too)
        sizes = self.g_plain.scale_sizes(*future.shape[-2:])
        targets = [resize_to_scales(future[:, k], sizes) for k in range(self.n_output)]
        out = self._update_d(contexts, targets) if self.use_d and phase != "g_warmup" else {}
        out.update(self._update_g(contexts, targets, adversarial=self.use_d and phase == "joint"))
        return out

    def _condition(self, context: torch.Tensor) -> torch.Tensor | None:
        """What a conditional D reads beside the frames: the context inside the margin; None when D is not."""
        return inner(context, self.margin) if self.conditional else None

    def _update_d(self, contexts, targets) -> dict[str, float]:
        n, amp, device = self.n_output, self.amp, self.device
        self.d.train()
        with torch.no_grad(), autocast(amp, device):
            fakes = [[p.float() for p in self.g_plain.predict_scales(c)] for c in contexts]
        for _ in range(self.schedule.d_steps):
            self.opt_d.zero_grad(set_to_none=True)
            loss_d = 0.0
            real_p = fake_p = 0.0
            for c, real, fake in zip(contexts, targets, fakes):
                with autocast(amp, device):
                    both = self.d([torch.cat([r, f]) for r, f in zip(real, fake)],
                                  self._condition(torch.cat([c, c]))).float()
                real_logits, fake_logits = both.chunk(2)
                loss_d = loss_d + d_loss(real_logits, fake_logits) / n
                real_p += torch.sigmoid(real_logits).mean().item() / n
                fake_p += torch.sigmoid(fake_logits).mean().item() / n
            optimizer_step(loss_d, self.opt_d, self.d.parameters(), self.grad_clip, self.scaler_d)
        return {Keys.LOSS_D.value: loss_d.item(), Keys.D_REAL.value: real_p, Keys.D_FAKE.value: fake_p}

    def _update_g(self, contexts, targets, adversarial: bool) -> dict[str, float]:
        cfg, n = self.loss_cfg, self.n_output
        self.opt_g.zero_grad(set_to_none=True)
        if adversarial:  # D frozen (no grads accumulated into D), called unwrapped: no DDP sync
            self.d_plain.requires_grad_(False)
        try:
            total = 0.0
            parts: dict[str, float] = {}
            for c, target in zip(contexts, targets):
                with autocast(self.amp, self.device):
                    preds = [p.float() for p in self.g_call(c)]
                    fake_logits = (self.d_plain(preds, self._condition(c)).float()
                                   if adversarial else None)
                losses = multiscale_generator_loss(
                    preds, target, fake_logits, lam_lp=cfg.lam_lp, lam_gdl=cfg.lam_gdl,
                    lam_adv=cfg.lam_adv if adversarial else 0.0, p=cfg.p, alpha=cfg.alpha, scales=self.g_plain.scales)
                total = total + losses.pop("total") / n
                for key, value in losses.items():
                    parts[key] = parts.get(key, 0.0) + value.item() / n
            optimizer_step(total, self.opt_g, self.g_call.parameters(), self.grad_clip, self.scaler_g)
        finally:
            if adversarial:
                self.d_plain.requires_grad_(True)
        return {Keys.LOSS_G.value: total.item(), **parts}


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
    margin: int = 0,
) -> tuple[Engine, dict[str, torch.amp.GradScaler]]:
    """Engine training a multi-scale generator (plain, ``ScalesForward``-wrapped or DDP of that), and the AMP
    scalers to checkpoint with it (``scaler`` of G, ``scaler_d`` of D; fp16 on CUDA only, else none).

    Output dict: ``loss_g``, ``lp_s{k}``, ``gdl_s{k}`` for every scale k, and when D ran this
    iteration ``loss_d``, ``d_real``, ``d_fake`` (mean sigmoid of D's logits), ``adv_s{k}``.
    ``margin``: as :func:`vfp.engines.supervised.create_supervised_trainer`'s (losses and D inside it).
    """
    device = resolve_device(device)
    step = _GanStep(generator, discriminator, opt_g, opt_d, loss_cfg, schedule_cfg, n_output=n_output,
                    grad_clip=grad_clip, device=device, amp=effective_amp(amp, device), crop=crop,
                    channels_last=channels_last, margin=margin)
    scalers = {"scaler": step.scaler_g, "scaler_d": step.scaler_d}
    return Engine(step), {key: scaler for key, scaler in scalers.items() if scaler is not None}
