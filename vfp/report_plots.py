"""The report's figures (matplotlib, no pyplot): a metric against the horizon step, and the training losses
with their legend beside the axes."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from matplotlib.figure import Figure

from vfp.fileio import atomic_open

__all__ = ["LEGEND_ROWS", "is_num", "loss_figure", "plot_losses", "plot_metric", "save_fig"]

LEGEND_ROWS = 14  # legend entries per column beside the training-loss plot
_LINE_STYLES = ("-", "--", ":", "-.")


def save_fig(fig: Figure, path: Path) -> None:
    with atomic_open(path) as handle:
        fig.savefig(handle, format="png", dpi=100, metadata={"Software": None})


def plot_metric(label: str, series: Mapping[str, Sequence[float]], path: Path) -> None:
    """One line per series (model first, then the baselines) against the horizon step."""
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    steps: list[int] = []
    for i, (name, values) in enumerate(series.items()):
        steps = list(range(1, len(values) + 1))
        ax.plot(steps, [float("nan") if v is None else v for v in values], "o-" if i == 0 else "s--", label=name)
    ax.set_xlabel("horizon step")
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs horizon step")
    ax.set_xticks(steps)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_fig(fig, path)


def is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def plot_losses(history: Sequence[Mapping], path: Path) -> list[str]:
    """Plot every numeric column other than epoch/iteration to ``path``; returns the series names."""
    fig, names = loss_figure(history)
    if fig is not None:
        save_fig(fig, path)
    return names


def loss_figure(history: Sequence[Mapping]) -> tuple[Figure | None, list[str]]:
    """The training-loss figure (one line per numeric column, the legend beside the axes) and its series."""
    names: list[str] = []
    for row in history:
        for k, v in row.items():
            if k not in ("epoch", "iteration", "step") and is_num(v) and k not in names:
                names.append(k)
    if not names:
        return None, []
    ncol = math.ceil(len(names) / LEGEND_ROWS)
    fig = Figure(figsize=(7.0 + 1.8 * ncol, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    xkey = next((k for k in ("iteration", "epoch") if any(k in r for r in history)), None)
    all_pos = True
    for name in names:
        xs, ys = [], []
        for i, row in enumerate(history):
            v = row.get(name)
            if not is_num(v):
                continue
            x = row.get(xkey, i) if xkey else i
            xs.append(x if is_num(x) else i)
            ys.append(float(v))
            all_pos = all_pos and float(v) > 0
        ax.plot(xs, ys, marker="." if len(xs) < 50 else None, label=name,
                linestyle=_LINE_STYLES[names.index(name) // 10 % len(_LINE_STYLES)])  # 10 colours, then a new style
    if all_pos:
        ys_all = [float(r[n]) for r in history for n in names if is_num(r.get(n))]
        if ys_all and max(ys_all) / min(ys_all) > 100:
            ax.set_yscale("log")
    ax.set_xlabel(xkey or "record")
    ax.set_ylabel("loss")
    ax.set_title("Training losses")
    ax.grid(True, alpha=0.3)
    fig.legend(loc="outside right upper", ncols=ncol, fontsize="small", frameon=False)  # beside, never over, the curves
    return fig, names
