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

from vfp import keys
from vfp.fileio import atomic_copy, atomic_write_text
from vfp.gif import CONTEXT_COLOUR, EXPECTED_COLOUR, GENERATED_COLOUR
from vfp.keys import LABELS
from vfp.report_plots import is_num, plot_losses, plot_metric
from vfp.results import eval_size_text, flat_metrics
from vfp.runs import gif_stem

__all__ = ["write_report", "TABLE_METRICS"]

# (metric key, label shown in the report)
TABLE_METRICS: tuple[tuple[str, str], ...] = (
    ("psnr", "PSNR of pooled MSE (dB)"),
    ("psnr_frame", "PSNR, mean per frame (dB)"),
    ("ssim", "SSIM"),
    ("mse", "MSE ([0,1] pixels)"),
    ("mae", "MAE ([0,1] pixels)"),
    ("sharp_diff", "Sharpness diff. (dB)"),
    ("psnr_moving", "PSNR moving pixels (dB)"),
    ("psnr_moving_frame", "PSNR moving pixels, mean per frame (dB)"),
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
.swatch { display: inline-block; width: 2.2em; height: 0.6em; vertical-align: middle; }
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


def _gain_cell(key: str, g: float | None) -> str:
    gcls = ""
    if g is not None and not (isinstance(g, float) and math.isnan(g)) and g != 0:
        better = (g < 0) if key.startswith(("mse", "mae")) else (g > 0)
        gcls = ' class="pos"' if better else ' class="neg"'
    return f"<td{gcls}>{_fmt(g)}</td>"


def _metrics_table(values: Mapping[str, float | None], model: str, bases: Sequence[str], horizon: int) -> list[str]:
    """The metrics table: one column for the model and each baseline, then the gain over each baseline."""
    head = "".join(f"<th>{_e(LABELS.get(b, b))}</th>" for b in bases)
    gains = "".join(f"<th>gain vs {_e(LABELS.get(b, b))}</th>" for b in bases)
    out = ['<table id="metrics-table"><thead><tr><th>Metric</th><th>Step</th>'
           f"<th>{_e(model)}</th>{head}{gains}</tr></thead><tbody>"]
    shown = [(k, lab) for k, lab in TABLE_METRICS if any(key.startswith(f"{k}_t") for key in values)]
    for key, label in shown:
        rows = [(str(k), f"_t{k}", "") for k in range(1, horizon + 1)] + [("mean", "_mean", ' class="mean"')]
        for step_label, suffix, cls in rows:
            cells = "".join(f"<td>{_fmt(values.get(keys.of(b, key) + suffix))}</td>" for b in bases)
            cells += "".join(_gain_cell(key, values.get(keys.gain(key, b, primary=i == 0) + suffix))
                             for i, b in enumerate(bases))
            out.append(f'<tr{cls}><td class="name">{_e(label)}</td><td>{_e(step_label)}</td>'
                       f"<td>{_fmt(values.get(f'{key}{suffix}'))}</td>{cells}</tr>")
    out.append("</tbody></table>")
    out.append('<p class="note">PSNR is the PSNR of the MSE pooled over all test frames (a frozen frame that a '
               "baseline reproduces exactly cannot dominate it); the per-frame mean (capped at 100 dB) is listed "
               "separately. MSE/MAE are on pixels scaled to [0,1]; moving-pixel metrics use only the moving area "
               "(n/a when nothing moved).</p>")
    return out


def _plots(out_dir: Path, model: str, steps: Mapping[str, Mapping[str, Sequence[float]]],
           bases: Sequence[str]) -> list[str]:
    imgs: list[str] = []
    for key, label in ((keys.PSNR, "PSNR (dB)"), (keys.SSIM, "SSIM")):
        if key in steps.get(keys.MODEL, {}) and all(key in steps[b] for b in bases):
            fname = f"{key}_vs_step.png"
            series = {model: steps[keys.MODEL][key], **{LABELS.get(b, b): steps[b][key] for b in bases}}
            plot_metric(label, series, out_dir / fname)
            imgs.append(f'<img src="{_src(fname)}" alt="{_e(label)} vs horizon step">')
    if imgs:
        return ['<div class="plots">' + "".join(imgs) + "</div>"]
    return ['<p class="note">No per-step PSNR/SSIM available.</p>']


def _losses(out_dir: Path, loss_history: Sequence[Mapping] | None) -> list[str]:
    if not loss_history:
        return ['<p class="note">No training loss history available (e.g. a baseline without training).</p>']
    names = plot_losses(loss_history, out_dir / "loss.png")
    if names:
        return [f'<div class="plots"><img src="loss.png" alt="training losses: {_e(", ".join(names))}"></div>']
    return ['<p class="note">The loss history has no numeric loss column.</p>']


def _selection(selected: Mapping | None) -> list[str]:
    """Which epoch's weights were exported and why (vfp.handlers.selection), from the training summary."""
    if not selected:
        return []
    over = ((f"val_{keys.Val.GAIN_T1.value}", keys.COPY_LAST), (f"val_{keys.Val.GAIN_FLOW_T1.value}", keys.FLOW))
    gains = [f"over {LABELS[name]} {selected[key]:+.3f} dB" for key, name in over
             if isinstance(selected.get(key), (int, float))]
    gain_text = f" (validation gain at t+1 {', '.join(gains)})" if gains else ""
    out = [f'<p id="selection">Exported weights: epoch {_e(selected.get("epoch"))} '
           f'[{_e(selected.get("phase"))}]{_e(gain_text)}: {_e(selected.get("why", ""))}.</p>']
    verdict = list(selected.get("verdict") or [])
    if verdict:  # the plain verdict: no epoch beat flow; the model never left its start
        text = "; ".join(verdict)
        out.append(f'<p id="verdict" class="note"><strong>{_e(text[:1].upper() + text[1:])}.</strong></p>')
    return out


def _swatch(rgb: Sequence[int]) -> str:
    return f'<span class="swatch" style="background: rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"></span>'


def _timeline_note() -> str:
    """What a GIF pair shows, and the bar under its frames (the colours are vfp.gif's)."""
    return ('<p id="timeline-note">Each pair plays the same test clip twice: the context frames the model read, '
            'then the future, true on the left (expected) and predicted on the right (generated); the clips come '
            'from different classes where the test set has several. The bar under the frames grows with time: '
            f'{_swatch(CONTEXT_COLOUR)} context frames, {_swatch(EXPECTED_COLOUR)} true future, '
            f'{_swatch(GENERATED_COLOUR)} predicted future, so a prediction starts where the bar changes colour.</p>')


def _gallery(out_dir: Path, gif_pairs: Sequence[tuple]) -> list[str]:
    if not gif_pairs:
        return ['<p class="note">No GIFs were written.</p>']
    used: dict[str, Path] = {}
    out = [_timeline_note(), '<div class="gallery">']
    for expected, generated in gif_pairs:
        e_rel = _place_gif(Path(expected), out_dir, used)
        g_rel = _place_gif(Path(generated), out_dir, used)
        stem = gif_stem(Path(expected))
        out.append(f'<figure><img src="{_src(e_rel)}" alt="{_e(stem)} expected">'
                   f'<img src="{_src(g_rel)}" alt="{_e(stem)} generated">'
                   f"<figcaption>{_e(stem)}: expected (left) / generated (right)</figcaption></figure>")
    out.append("</div>")
    return out


def _flat_table(values: Mapping[str, object]) -> list[str]:
    if not values:
        return []
    out = ["<h2>All metrics</h2>", '<details><summary>Flat metric keys</summary><table id="flat-table"><tbody>']
    for k in sorted(values):
        v = values[k]
        shown = _fmt(v) if v is None or is_num(v) or isinstance(v, float) else _e(v)
        out.append(f'<tr><td class="name">{_e(k)}</td><td>{shown}</td></tr>')
    out.append("</tbody></table></details>")
    return out


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
    selection: Mapping | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (plus PNG plots and ``gifs/``) and return its path.

    Args:
        model: model name (shown in the title, table and plot legends).
        flat: flat metrics from :func:`vfp.results.flat_metrics` (may hold extra keys, all listed at
            the bottom); missing table values are computed from ``steps``.
        steps: ``{"model": {metric: [per-step]}, <baseline>: {metric: [per-step]}, ...}`` for the
            baselines of :data:`vfp.keys.BASELINES` present (copy-last, flow): one column each.
        loss_history: rows ``{"epoch": .., "iteration": .., "<loss>": value}`` or None.
        gif_pairs: ``(expected_gif, generated_gif)`` paths; GIFs outside ``out_dir``
            are copied into ``out_dir/gifs/``.
        generated_at: optional fixed timestamp string shown in the page.
        selection: the ``selected`` entry of the training summary (which epoch was exported and why).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_steps = dict(steps.get(keys.MODEL, {}))
    bases = [b for b in keys.BASELINES if b in steps]
    common = {k: v for k, v in model_steps.items() if all(k in steps[b] for b in bases)}
    values: dict[str, float | None] = {}
    if common and bases:
        values = dict(flat_metrics(common, {b: steps[b] for b in bases}))
    values.update(flat or {})
    horizon = max((len(v) for v in model_steps.values()), default=0)
    labels = ", ".join(f"{LABELS.get(b, b)}" for b in bases)
    size = f" Frames evaluated at {eval_size_text(values)}." if "eval_height" in values else ""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{_e(title)} - {_e(model)}</title>", f"<style>{_CSS}</style>", f"<script>{_SCRIPT}</script>",
             "</head><body>", f"<h1>{_e(title)}</h1>",
             f'<p>Model: <strong id="model-name">{_e(model)}</strong>. Baselines: {_e(labels)} (copy-last repeats '
             "the last context frame; flow warps it forward by the optical flow between the last two context "
             "frames). Gain = model &minus; baseline (for MSE/MAE lower is better, so a negative gain is an "
             f"improvement).{_e(size)}</p>"]
    if generated_at is not None:
        parts.append(f"<p class=\"note\">Generated at {_e(generated_at)}.</p>")
    parts += ["<h2>Metrics per horizon step</h2>", *_metrics_table(values, model, bases, horizon)]
    parts += ["<h2>Per-horizon plots</h2>", *_plots(out_dir, model, steps, bases)]
    parts += ["<h2>Training losses</h2>", *_selection(selection), *_losses(out_dir, loss_history)]
    parts += ["<h2>Expected vs generated</h2>", *_gallery(out_dir, gif_pairs)]
    parts += [*_flat_table(values), "</body></html>"]
    path = out_dir / "index.html"
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
