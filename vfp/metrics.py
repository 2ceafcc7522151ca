"""Per-frame statistics and their aggregates for next-frame prediction.

Two layers:

1. :func:`per_step_metrics` turns one batch (``pred``/``target`` ``[B, T, C, H, W]`` in [-1, 1])
   into per-frame statistics ``[B, T]`` (:data:`STAT_NAMES`), in one pass over the stacked batch:
   no per-step loop, SSIM as one separable Gaussian convolution of all frames at once.
2. :class:`MetricAccumulator` sums them over batches; :meth:`MetricAccumulator.per_step` derives
   the reported metrics (:data:`METRIC_NAMES`) per horizon step.

Reported metrics (pixels: ``x * 127.5 + 127.5`` clamped to [0, 255], peak 255):

* ``psnr``: PSNR of the POOLED MSE, ``10 log10(255^2 / mean over frames of MSE)``. A frame that
  is predicted exactly (a frozen video: copy-last scores +inf on it) adds an MSE of 0 and cannot
  dominate the aggregate the way a capped 100 dB would in a mean of per-frame PSNR.
  ``psnr_frame``: the mean of per-frame PSNR, each capped at ``PSNR_CAP`` (Mathieu et al.'s
  average; kept under its own key).
* ``ssim``: mean per-frame SSIM, Gaussian window 11, sigma 1.5, K = (0.01, 0.03), data range 255,
  over the valid region (identical to torchmetrics' Gaussian SSIM, which pads and then crops the
  border); frames need H, W >= 11. With ``ssim_luma`` on luminance
  ``Y = 0.299 R + 0.587 G + 0.114 B`` instead of the mean over RGB channels.
* ``mse`` / ``mae``: mean per-frame error on pixels scaled to [0, 1] (``psnr == 10 log10(1/mse)``).
* ``sharp_diff``: Mathieu et al.'s sharpness difference
  ``10 log10(255^2 / ((1/N) sum |(|dx Y| + |dy Y|) - (|dx Yhat| + |dy Yhat|)|))`` with forward
  differences on the common ``(H-1, W-1)`` region, pooled like ``psnr`` (the mean gradient error
  over frames inside the log); ``sharp_diff_frame`` is the mean of the per-frame capped values.
* Moving-area metrics use a per-frame mask ``[B, T, 1, H, W]`` (difference or optical-flow rule,
  chosen by the caller) and a per-frame ``keep`` flag (frames left out, e.g. those copy-last
  reproduces at >= ``evaluate.skip_above_db``). ``mse_moving`` / ``mae_moving`` pool the squared /
  absolute error over every moving pixel of the kept frames; ``psnr_moving = 10 log10(1/mse_moving)``;
  ``psnr_moving_frame`` is the mean of per-frame moving-pixel PSNR (the paper's average). A step
  with no moving pixel gives NaN (JSON ``null``).
* ``*_mean`` is the mean over steps (NaN steps skipped). Gains are ``model - baseline`` without
  flipping the sign for lower-is-better metrics (mse, mae).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F

from vfp import keys
from vfp.frames import to_pixels

__all__ = [
    "PSNR_CAP", "MOVING_THRESHOLD", "PEAK", "METRIC_NAMES", "STAT_NAMES", "VAL_STATS", "psnr_frames", "ssim_frames",
    "sharp_diff_frames", "moving_mask", "per_step_metrics", "copy_last_prediction", "MetricAccumulator", "db",
]

PSNR_CAP = 100.0
MOVING_THRESHOLD = 10.0
PEAK = 255.0
SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
LUMA = (0.299, 0.587, 0.114)

METRIC_NAMES = keys.METRIC_NAMES
# per-frame statistics [B, T] that per_step_metrics returns and the accumulator sums
STAT_NAMES: tuple[str, ...] = (
    "psnr_frame", "ssim", "mse", "mae", "grad_err", "sharp_diff_frame",
    "sq_moving", "abs_moving", "n_moving", "psnr_moving_frame",
)
# the statistics the metrics of keys.VAL_METRICS need (validation measures only these)
VAL_STATS: tuple[str, ...] = ("psnr_frame", "mse")
_SUMS_ONLY = ("grad_err", "sq_moving", "abs_moving", "n_moving")  # pooled into derived metrics, not reported
_MOVING = ("sq_moving", "abs_moving", "n_moving")


def db(ratio: torch.Tensor | float) -> torch.Tensor:
    """``10 log10(ratio)`` capped at PSNR_CAP (+inf -> cap, NaN stays NaN)."""
    return torch.clamp(10.0 * torch.log10(torch.as_tensor(ratio, dtype=torch.float64)), max=PSNR_CAP)


def psnr_frames(pred_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """PSNR per frame for pixel tensors ``[N, C, H, W]`` in [0, 255] -> ``[N]`` (capped)."""
    mse = (pred_px.float() - target_px.float()).pow(2).flatten(1).mean(1).double()
    return db(PEAK**2 / mse).float()


def _gauss(device: torch.device) -> torch.Tensor:
    x = torch.arange(SSIM_KERNEL, dtype=torch.float32, device=device) - (SSIM_KERNEL - 1) / 2
    g = torch.exp(-x.pow(2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def ssim_frames(pred_px: torch.Tensor, target_px: torch.Tensor, luma: bool = False) -> torch.Tensor:
    """2-D SSIM per frame for pixel tensors ``[N, C, H, W]`` in [0, 255] -> ``[N]``.

    One depthwise separable Gaussian convolution of all frames and channels at once, on four maps
    ``s = x + y``, ``d = x - y``, ``s^2``, ``d^2`` (the five local moments of SSIM follow from them:
    ``mu_x mu_y = (mu_s^2 - mu_d^2) / 4``, ``E[xy] = (E[s^2] - E[d^2]) / 4``, ...), valid region only.
    """
    x, y = pred_px.float(), target_px.float()
    if luma and x.shape[1] == 3:
        w = torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)
        x, y = (x * w).sum(1, keepdim=True), (y * w).sum(1, keepdim=True)
    n, c, h, wd = x.shape
    if min(h, wd) < SSIM_KERNEL:
        raise ValueError(f"SSIM needs frames of at least {SSIM_KERNEL}x{SSIM_KERNEL}, got {h}x{wd}")
    nc = n * c
    f = torch.empty(1, 4 * nc, h, wd, device=x.device)
    s, d = f[:, :nc], f[:, nc:2 * nc]
    torch.add(x.reshape(1, nc, h, wd), y.reshape(1, nc, h, wd), out=s)
    torch.sub(x.reshape(1, nc, h, wd), y.reshape(1, nc, h, wd), out=d)
    torch.mul(s, s, out=f[:, 2 * nc:3 * nc])
    torch.mul(d, d, out=f[:, 3 * nc:])
    g = _gauss(x.device)
    f = F.conv2d(f, g.view(1, 1, 1, -1).expand(4 * nc, 1, 1, -1), groups=4 * nc)
    f = F.conv2d(f, g.view(1, 1, -1, 1).expand(4 * nc, 1, -1, 1), groups=4 * nc)
    ms, md, ess, edd = f.chunk(4, dim=1)
    ms2, md2 = ms * ms, md * md
    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2
    num = (0.5 * (ms2 - md2) + c1) * (0.5 * (ess - edd - ms2 + md2) + c2)
    den = (0.5 * (ms2 + md2) + c1) * (0.5 * (ess + edd - ms2 - md2) + c2)
    return (num / den).reshape(n, -1).mean(1)


def _grad_sum(x: torch.Tensor) -> torch.Tensor:
    dx = (x[..., :-1, 1:] - x[..., :-1, :-1]).abs()
    dy = (x[..., 1:, :-1] - x[..., :-1, :-1]).abs()
    return dx + dy


def _grad_err(pred_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of gradient magnitudes per frame (``[N, C, H, W]`` -> ``[N]``)."""
    return (_grad_sum(target_px.float()) - _grad_sum(pred_px.float())).abs().flatten(1).mean(1)


def sharp_diff_frames(pred_px: torch.Tensor, target_px: torch.Tensor) -> torch.Tensor:
    """Mathieu et al. sharpness difference per frame (pixels ``[N, C, H, W]``) -> ``[N]`` (capped)."""
    return db(PEAK**2 / _grad_err(pred_px, target_px).double()).float()


def moving_mask(target: torch.Tensor, last_input: torch.Tensor,
                moving_threshold: float = MOVING_THRESHOLD) -> torch.Tensor:
    """Difference rule: ``[B, T, 1, H, W]``, True where the true frames change by > threshold grey levels.

    ``target`` is ``[B, T, C, H, W]`` and ``last_input`` ``[B, C, H, W]`` in [-1, 1]; step 1 compares
    with the last input frame, step k with true frame k-1, in any channel.
    """
    tp = to_pixels(target)
    prev = torch.cat([to_pixels(last_input).unsqueeze(1), tp[:, :-1]], dim=1)
    return ((tp - prev).abs() > moving_threshold).any(dim=2, keepdim=True)


def copy_last_prediction(last_input: torch.Tensor, steps: int) -> torch.Tensor:
    """The copy-last baseline: ``last_input [B, C, H, W]`` repeated -> ``[B, steps, C, H, W]``."""
    return last_input.unsqueeze(1).expand(-1, steps, *last_input.shape[1:]).contiguous()


@torch.no_grad()
def per_step_metrics(pred: torch.Tensor, target: torch.Tensor, last_input: torch.Tensor,
                     moving_threshold: float = MOVING_THRESHOLD, *, mask: torch.Tensor | None = None,
                     keep: torch.Tensor | None = None, ssim_luma: bool = False,
                     stats: Sequence[str] = STAT_NAMES) -> dict[str, torch.Tensor]:
    """Per-frame statistics of one batch: ``dict name -> float32 CPU [B, T]`` for ``stats`` (of :data:`STAT_NAMES`).

    ``mask`` (``[B, T, 1, H, W]`` bool) defaults to :func:`moving_mask` with ``moving_threshold``;
    ``keep`` (``[B, T]`` bool) leaves frames out of the moving-area statistics (default: keep all).
    """
    if pred.shape != target.shape or pred.dim() != 5:
        raise ValueError(f"pred/target must both be [B,T,C,H,W], got {tuple(pred.shape)} / {tuple(target.shape)}")
    if last_input.shape != (target.shape[0], *target.shape[2:]):
        raise ValueError(f"last_input must be [B,C,H,W] matching target, got {tuple(last_input.shape)}")
    b, t = target.shape[:2]
    p, y = to_pixels(pred.detach()).float(), to_pixels(target.detach()).float()
    err = (p - y) / PEAK  # [0,1]-scaled error
    sq = err.pow(2)
    out: dict[str, torch.Tensor] = {"mse": sq.flatten(2).mean(2)}
    out["psnr_frame"] = db(1.0 / out["mse"].double()).float()
    if "mae" in stats:
        out["mae"] = err.abs().flatten(2).mean(2)
    fp, fy = p.flatten(0, 1), y.flatten(0, 1)
    if "ssim" in stats:
        out["ssim"] = ssim_frames(fp, fy, ssim_luma).view(b, t)
    if "grad_err" in stats or "sharp_diff_frame" in stats:
        out["grad_err"] = _grad_err(fp, fy).view(b, t)
        out["sharp_diff_frame"] = db(PEAK**2 / out["grad_err"].double()).float()
    if any(s in stats for s in (*_MOVING, "psnr_moving_frame")):
        if mask is None:
            mask = moving_mask(target.detach(), last_input.detach(), moving_threshold)
        out.update(_moving_stats(err, sq, mask, keep))
    return {k: out[k].float().cpu() for k in stats}


def _moving_stats(err: torch.Tensor, sq: torch.Tensor, mask: torch.Tensor,
                  keep: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Squared / absolute error sums and pixel counts over the moving pixels of the kept frames."""
    b, t, c = err.shape[:3]
    m = mask.to(err.device, torch.float32)
    if keep is not None:
        m = m * keep.to(err.device, torch.float32).view(b, t, 1, 1, 1)
    out = {"n_moving": m.flatten(2).sum(2) * c, "sq_moving": (sq * m).flatten(2).sum(2),
           "abs_moving": (err.abs() * m).flatten(2).sum(2)}
    mse_m = torch.where(out["n_moving"] > 0, out["sq_moving"] / out["n_moving"].clamp(min=1),
                        torch.full_like(out["n_moving"], float("nan")))
    out["psnr_moving_frame"] = db(1.0 / mse_m.double()).float()
    return out


class MetricAccumulator:
    """Sums per-frame statistics over batches (NaN skipped) and derives the metrics per step.

    ``update(per_step_metrics(...))`` for every batch; ``per_step()`` gives ``dict name -> list[float]``
    for :data:`METRIC_NAMES` (one value per step, NaN when undefined); ``means()`` the mean over steps.
    """

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, torch.Tensor] = {}

    def update(self, stats: Mapping[str, torch.Tensor]) -> None:
        for name, val in stats.items():
            v = val.detach().double().cpu()
            v = v.unsqueeze(0) if v.dim() == 1 else v
            valid = ~torch.isnan(v)
            s, c = torch.where(valid, v, torch.zeros_like(v)).sum(0), valid.sum(0).double()
            if name in self._sums and self._sums[name].shape != s.shape:
                raise ValueError(f"metric {name!r}: horizon changed from {self._sums[name].numel()} to {s.numel()}")
            self._sums[name] = self._sums[name] + s if name in self._sums else s
            self._counts[name] = self._counts[name] + c if name in self._counts else c

    def merge(self, other: "MetricAccumulator") -> None:
        """Add another accumulator's sums (e.g. cached baseline statistics)."""
        for name, s in other._sums.items():
            self._sums[name] = self._sums[name] + s if name in self._sums else s.clone()
            self._counts[name] = self._counts[name] + other._counts[name] if name in self._counts \
                else other._counts[name].clone()

    @property
    def names(self) -> list[str]:
        return list(self._sums)

    def _mean(self, name: str) -> torch.Tensor:
        c = self._counts[name]
        return torch.where(c > 0, self._sums[name] / c.clamp(min=1), torch.full_like(c, float("nan")))

    def per_step(self) -> dict[str, list[float]]:
        """The metrics the summed statistics define, per step: means of per-frame values, ``psnr`` of
        the pooled ``mse``, ``sharp_diff`` of the pooled ``grad_err``, the moving-area metrics of the
        pooled moving sums (:data:`METRIC_NAMES` order first; other per-frame values as means)."""
        if not self._sums:
            return {}
        res = {n: self._mean(n) for n in self._sums if n not in _SUMS_ONLY}
        if "mse" in self._sums:
            res["psnr"] = db(1.0 / self._mean("mse"))
        if "grad_err" in self._sums:
            res["sharp_diff"] = db(PEAK**2 / self._mean("grad_err"))
        if all(n in self._sums for n in _MOVING):
            n = self._sums["n_moving"]
            nan = torch.full_like(n, float("nan"))
            res["mse_moving"] = torch.where(n > 0, self._sums["sq_moving"] / n.clamp(min=1), nan)
            res["mae_moving"] = torch.where(n > 0, self._sums["abs_moving"] / n.clamp(min=1), nan)
            res["psnr_moving"] = db(1.0 / res["mse_moving"])
        order = [k for k in METRIC_NAMES if k in res] + [k for k in res if k not in METRIC_NAMES]
        return {k: [float(v) for v in res[k].tolist()] for k in order}

    def apply(self, op: Callable[[torch.Tensor], torch.Tensor]) -> MetricAccumulator:
        """A new accumulator holding ``op`` of every sum and count, in name order (``op``: e.g. an
        all-reduce over processes, which every process must call in the same order)."""
        out = MetricAccumulator()
        for name in sorted(self._sums):
            out._sums[name], out._counts[name] = op(self._sums[name].clone()), op(self._counts[name].clone())
        return out

    def means(self) -> dict[str, float]:
        return {name: _nanmean(vals) for name, vals in self.per_step().items()}

    def counts(self) -> dict[str, list[int]]:
        return {name: [int(c) for c in cs.tolist()] for name, cs in self._counts.items()}

    def state(self) -> dict[str, list[list[float]]]:
        """Plain data (for caches): ``{name: [sums, counts]}``."""
        return {n: [self._sums[n].tolist(), self._counts[n].tolist()] for n in self._sums}

    @classmethod
    def from_state(cls, state: Mapping[str, Sequence[Sequence[float]]]) -> "MetricAccumulator":
        acc = cls()
        for n, (s, c) in state.items():
            acc._sums[n] = torch.tensor(s, dtype=torch.float64)
            acc._counts[n] = torch.tensor(c, dtype=torch.float64)
        return acc


def _nanmean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else float("nan")
