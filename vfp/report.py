"""Static HTML evaluation report (opens from disk, no server, relative paths only).

``write_report`` writes into ``out_dir``:

* ``index.html``: metrics table (model vs copy-last vs gain per horizon step),
  per-horizon plots, training-loss curves, and a gallery of expected/generated
  GIF pairs;
* ``psnr_vs_step.png``, ``ssim_vs_step.png`` and (if a loss history is given)
  ``loss.png``, drawn with matplotlib's Agg canvas (no pyplot state);
* ``gifs/``: copies of the GIFs that are not already under ``out_dir``.

The page carries a tiny inline script that, on window load, sets
``data-images-loaded`` / ``data-images-total`` on ``<body>`` (count of ``<img>``
elements with ``complete && naturalWidth > 0``) so a headless browser can check
that every image actually loaded. The output is deterministic for the same
inputs: no timestamps unless ``generated_at`` is passed in.
"""

from __future__ import annotations

import filecmp
import html
import math
import os
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import quote

from matplotlib.figure import Figure

from vfp.metrics import flat_metrics
from vfp.fileio import atomic_copy, atomic_open, atomic_write_text

__all__ = ["write_report", "TABLE_METRICS"]

# (metric key, label shown in the report)
TABLE_METRICS: tuple[tuple[str, str], ...] = (
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("mse", "MSE ([0,1] pixels)"),
    ("mae", "MAE ([0,1] pixels)"),
    ("sharp_diff", "Sharpness diff. (dB)"),
    ("psnr_moving", "PSNR moving pixels (dB)"),
)

_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
th { background: #e8eef7; } td.name { text-align: left; }
tr.mean td { font-weight: bold; background: #f4f4f4; }
.pos { color: #176b2c; } .neg { color: #a32020; }
.plots img { max-width: 560px; margin-right: 1em; border: 1px solid #ddd; }
.gallery { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; border: 1px solid #ddd; padding: 0.5em; }
figure img { image-rendering: pixelated; margin-right: 0.5em; }
figcaption { font-size: 0.9em; margin-top: 0.3em; }
.note { color: #666; font-style: italic; }
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, n = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { n++; }
  }
  document.body.dataset.imagesLoaded = String(n);
  document.body.dataset.imagesTotal = String(imgs.length);
});
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}"


def _src(rel: str) -> str:
    """Relative POSIX path -> escaped attribute value."""
    return _e(quote(rel, safe="/"))


def _save_fig(fig: Figure, path: Path) -> None:
    with atomic_open(path) as handle:
        fig.savefig(handle, format="png", dpi=100, metadata={"Software": None})


def _plot_metric(name: str, label: str, model: Sequence[float], copy: Sequence[float], model_name: str, path: Path) -> None:
    steps = list(range(1, len(model) + 1))
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(steps, [float("nan") if v is None else v for v in model], "o-", label=model_name)
    ax.plot(steps, [float("nan") if v is None else v for v in copy], "s--", label="copy-last")
    ax.set_xlabel("horizon step")
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs horizon step")
    ax.set_xticks(steps)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save_fig(fig, path)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _plot_losses(history: Sequence[Mapping], path: Path) -> list[str]:
    """Plot every numeric column other than epoch/iteration; returns the series names."""
    names: list[str] = []
    for row in history:
        for k, v in row.items():
            if k not in ("epoch", "iteration", "step") and _is_num(v) and k not in names:
                names.append(k)
    if not names:
        return []
    fig = Figure(figsize=(7.0, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    xkey = "iteration" if any("iteration" in r for r in history) else ("epoch" if any("epoch" in r for r in history) else None)
    all_pos = True
    for name in names:
        xs, ys = [], []
        for i, row in enumerate(history):
            v = row.get(name)
            if not _is_num(v):
                continue
            x = row.get(xkey, i) if xkey else i
            xs.append(x if _is_num(x) else i)
            ys.append(float(v))
            all_pos = all_pos and float(v) > 0
        ax.plot(xs, ys, marker="." if len(xs) < 50 else None, label=name)
    if all_pos:
        ys_all = [float(r[n]) for r in history for n in names if _is_num(r.get(n))]
        if ys_all and max(ys_all) / min(ys_all) > 100:
            ax.set_yscale("log")
    ax.set_xlabel(xkey or "record")
    ax.set_ylabel("loss")
    ax.set_title("Training losses")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save_fig(fig, path)
    return names


def _place_gif(src: Path, out_dir: Path, used: dict[str, Path]) -> str:
    """Return a path relative to out_dir for src, copying it under out_dir/gifs/ if needed."""
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"GIF not found: {src}")
    out_res = out_dir.resolve()
    src_res = src.resolve()
    if out_res in src_res.parents:
        return src_res.relative_to(out_res).as_posix()
    gifs = out_dir / "gifs"
    gifs.mkdir(parents=True, exist_ok=True)
    name = src.name
    i = 1
    while name in used and used[name] != src_res:
        name = f"{i}_{src.name}"
        i += 1
    used[name] = src_res
    dest = gifs / name
    if not (dest.exists() and filecmp.cmp(src, dest, shallow=False)):
        atomic_copy(src, dest)
    return f"gifs/{name}"


def _stem(path: Path) -> str:
    name = Path(path).name
    for suffix in ("_expected_large.gif", "_generated_large.gif", ".gif"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def write_report(
    out_dir: str | os.PathLike,
    *,
    model: str,
    flat: Mapping[str, float | None] | None,
    steps: Mapping[str, Mapping[str, Sequence[float]]],
    loss_history: Sequence[Mapping] | None,
    gif_pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    title: str = "Next-frame prediction report",
    generated_at: str | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (plus PNG plots and ``gifs/``) and return its path.

    Args:
        model: model name (shown in the title, table and plot legends).
        flat: flat metrics from :func:`vfp.metrics.flat_metrics` (may hold extra
            keys, all listed at the bottom); missing table values are computed
            from ``steps``.
        steps: ``{"model": {metric: [per-step]}, "copy_last": {metric: [per-step]}}``
            (``"copy"`` is accepted for ``"copy_last"``).
        loss_history: rows ``{"epoch": .., "iteration": .., "<loss>": value}`` or None.
        gif_pairs: ``(expected_gif, generated_gif)`` paths; GIFs outside ``out_dir``
            are copied into ``out_dir/gifs/``.
        generated_at: optional fixed timestamp string shown in the page.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_steps = dict(steps.get("model", {}))
    copy_steps = dict(steps.get("copy_last", steps.get("copy", {})))
    common = {k: v for k, v in model_steps.items() if k in copy_steps}
    values: dict[str, float | None] = dict(flat_metrics(common, copy_steps)) if common else {}
    if flat:
        values.update(flat)
    horizon = max((len(v) for v in model_steps.values()), default=0)

    parts: list[str] = []
    add = parts.append
    add("<!DOCTYPE html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add(f"<title>{_e(title)} - {_e(model)}</title>")
    add(f"<style>{_CSS}</style>")
    add(f"<script>{_SCRIPT}</script>")
    add("</head><body>")
    add(f"<h1>{_e(title)}</h1>")
    add(f'<p>Model: <strong id="model-name">{_e(model)}</strong>. Baseline: copy-last (the last context frame repeated). '
        f"Gain = model &minus; copy-last (for MSE/MAE lower is better, so a negative gain is an improvement).</p>")
    if generated_at is not None:
        add(f"<p class=\"note\">Generated at {_e(generated_at)}.</p>")

    # ---- metrics table
    add("<h2>Metrics per horizon step</h2>")
    add('<table id="metrics-table"><thead><tr><th>Metric</th><th>Step</th>'
        f"<th>{_e(model)}</th><th>copy-last</th><th>gain</th></tr></thead><tbody>")
    shown = [(k, lab) for k, lab in TABLE_METRICS if any(key.startswith(f"{k}_t") for key in values)]
    for key, label in shown:
        rows = [(str(k), f"_t{k}", "") for k in range(1, horizon + 1)] + [("mean", "_mean", ' class="mean"')]
        for step_label, suffix, cls in rows:
            m = values.get(f"{key}{suffix}")
            c = values.get(f"copy_last_{key}{suffix}")
            g = values.get(f"{key}_gain{suffix}")
            lower_better = key.startswith(("mse", "mae"))
            gcls = ""
            if g is not None and not (isinstance(g, float) and math.isnan(g)) and g != 0:
                better = (g < 0) if lower_better else (g > 0)
                gcls = ' class="pos"' if better else ' class="neg"'
            add(f'<tr{cls}><td class="name">{_e(label)}</td><td>{_e(step_label)}</td>'
                f"<td>{_fmt(m)}</td><td>{_fmt(c)}</td><td{gcls}>{_fmt(g)}</td></tr>")
    add("</tbody></table>")
    add('<p class="note">PSNR and sharpness difference are capped at 100 dB; MSE/MAE are on pixels scaled to [0,1]; '
        "moving-pixel metrics use only pixels where consecutive true frames differ (n/a when none moved).</p>")

    # ---- per-horizon plots
    add("<h2>Per-horizon plots</h2>")
    plot_imgs: list[str] = []
    for key, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        if key in model_steps and key in copy_steps:
            fname = f"{key}_vs_step.png"
            _plot_metric(key, label, model_steps[key], copy_steps[key], model, out_dir / fname)
            plot_imgs.append(f'<img src="{_src(fname)}" alt="{_e(label)} vs horizon step">')
    if plot_imgs:
        add('<div class="plots">' + "".join(plot_imgs) + "</div>")
    else:
        add('<p class="note">No per-step PSNR/SSIM available.</p>')

    # ---- losses
    add("<h2>Training losses</h2>")
    if loss_history:
        names = _plot_losses(loss_history, out_dir / "loss.png")
        if names:
            add(f'<div class="plots"><img src="loss.png" alt="training losses: {_e(", ".join(names))}"></div>')
        else:
            add('<p class="note">The loss history has no numeric loss column.</p>')
    else:
        add('<p class="note">No training loss history available (e.g. a baseline without training).</p>')

    # ---- gallery
    add("<h2>Expected vs generated</h2>")
    if gif_pairs:
        used: dict[str, Path] = {}
        add('<div class="gallery">')
        for expected, generated in gif_pairs:
            e_rel = _place_gif(Path(expected), out_dir, used)
            g_rel = _place_gif(Path(generated), out_dir, used)
            stem = _stem(Path(expected))
            add(f'<figure><img src="{_src(e_rel)}" alt="{_e(stem)} expected">'
                f'<img src="{_src(g_rel)}" alt="{_e(stem)} generated">'
                f"<figcaption>{_e(stem)}: expected (left) / generated (right)</figcaption></figure>")
        add("</div>")
    else:
        add('<p class="note">No GIFs were written.</p>')

    # ---- all flat metrics
    if values:
        add("<h2>All metrics</h2>")
        add('<details><summary>Flat metric keys</summary><table id="flat-table"><tbody>')
        for k in sorted(values):
            v = values[k]
            add(f'<tr><td class="name">{_e(k)}</td><td>{_fmt(v) if v is None or _is_num(v) or isinstance(v, float) else _e(v)}</td></tr>')
        add("</tbody></table></details>")
    add("</body></html>")

    path = out_dir / "index.html"
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
