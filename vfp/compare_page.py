"""The HTML of ``vfp compare``: experiments table, per-step figure, clip grid (relative paths only).

Files in the output folder (replaced whole, atomically): ``index.html``, ``per_step.png`` and
``clips/<clip>_<column>.png``: each column's frames stacked top to bottom (time runs down), every
column at the same ``scale``. Like the per-model report, the page sets ``data-images-loaded`` /
``data-images-total`` on ``<body>`` once loaded, so a headless browser can check every image.
"""
from __future__ import annotations

import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
from einops import rearrange

from vfp import keys
from vfp.fileio import atomic_dir, atomic_write_text
from vfp.frames import to_uint8
from vfp.keys import Val

if TYPE_CHECKING:
    from vfp.compare import Experiment

__all__ = ["write_page", "column_png"]

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}th{background:#f2f2f2}
td.num{text-align:right;white-space:nowrap}.cl{color:#888}.note{color:#b00}img{image-rendering:pixelated}
#grid td{text-align:center}.params{font-family:monospace;font-size:12px}"""
LOAD_SCRIPT = """<script>window.addEventListener('load',function(){var i=document.images,n=0;
for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}
document.body.setAttribute('data-images-loaded',n);document.body.setAttribute('data-images-total',i.length);});</script>"""


def column_png(frames: torch.Tensor, scale: int) -> bytes:
    """``[T, C, H, W]`` in [-1, 1] -> PNG bytes of the frames stacked vertically (1 px gap), ``scale``x."""
    from PIL import Image

    u = to_uint8(frames.detach().cpu())
    if u.shape[1] == 1:
        u = u.expand(-1, 3, -1, -1)
    u = torch.nn.functional.pad(u, (0, 0, 0, 1), value=255)[:, :3]
    img = rearrange(u, "t c h w -> (t h) w c").numpy()[:-1]
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return buf.getvalue()


def _fmt(value: Any, digits: int) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "-"


def _step_value(metrics: Mapping[str, Any], name: str, k: int, digits: int) -> str:
    """``model <copy-last> [flow ...]`` for metric ``name`` at step ``k``."""
    key = keys.at(name, k)
    cell = (f"{_fmt(metrics.get(key), digits)} "
            f"<span class=cl>{_fmt(metrics.get(keys.of(keys.COPY_LAST, key)), digits)}</span>")
    if keys.of(keys.FLOW, key) in metrics:
        cell += f" <span class=cl>flow {_fmt(metrics.get(keys.of(keys.FLOW, key)), digits)}</span>"
    return cell


def _step_cell(metrics: Mapping[str, Any], k: int) -> str:
    return (f"<td class=num>PSNR {_step_value(metrics, keys.PSNR, k, 2)}<br>"
            f"SSIM {_step_value(metrics, keys.SSIM, k, 3)}</td>")


def _train_cell(metrics: Mapping[str, Any]) -> str:
    """``epoch E: loss .., val PSNR t+1 ..`` from dvclive's ``metrics.json`` (flattened)."""
    if not metrics:
        return "-"
    parts = [f"{html.escape(k.split('.', 1)[1])} {_fmt(metrics[k], 4)}" for k in ("train.loss", "train.loss_g")
             if k in metrics]
    val_psnr = f"val.{Val.PSNR_T1.value}"
    if val_psnr in metrics:
        parts.append(f"val PSNR t+1 {_fmt(metrics[val_psnr], 2)}")
    return f"epoch {metrics.get('step', '?')}: " + ", ".join(parts)


def _table(exps: Sequence["Experiment"], diff: Sequence[str], horizon: int) -> str:
    head = ["experiment", "model", "params that differ"]
    head += [f"t+{k}: model <span class=cl>copy-last</span>" for k in range(1, horizon + 1)]
    head += ["training (dvclive, last epoch)", "model file"]
    rows = []
    for e in exps:
        params = "<br>".join(html.escape(f"{k}={e.params.get(k)}") for k in diff) or "-"
        train = _train_cell(e.train_metrics)
        model_cell = (f"<span class=note>{html.escape(e.note)}</span>" if e.note
                      else f"{html.escape(e.model_path)} ({len(e.model_bytes or b'') / 1e6:.2f} MB)")
        rev = f"<br><span class=cl>{html.escape(e.rev[:7])}</span>" if e.rev else ""
        cells = [f"<td><b>{html.escape(e.name)}</b>{rev}</td>",
                 f"<td>{html.escape(e.model)}</td>", f"<td class=params>{params}</td>"]
        cells += [_step_cell(e.metrics, k) for k in range(1, horizon + 1)]
        cells += [f"<td>{train}</td>", f"<td>{model_cell}</td>"]
        rows.append(f"<tr class=experiment>{''.join(cells)}</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table id=experiments><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _plot(exps: Sequence["Experiment"], horizon: int, path: Path) -> bool:
    """PSNR and SSIM per horizon step, one line per experiment, copy-last (and flow) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(range(1, horizon + 1))
    have = [e for e in exps if any(keys.at(keys.PSNR, k) in e.metrics for k in steps)]
    if not have:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, name, label in ((axes[0], keys.PSNR, "PSNR (dB)"), (axes[1], keys.SSIM, "SSIM")):
        def series(m, key):
            return [m.get(keys.at(key, k)) if m.get(keys.at(key, k)) is not None else float("nan") for k in steps]

        for e in have:
            ax.plot(steps, series(e.metrics, name), "o-", label=e.name)
        ref = have[0].metrics
        ax.plot(steps, series(ref, keys.of(keys.COPY_LAST, name)), "k--", label=keys.LABELS[keys.COPY_LAST])
        if any(keys.at(keys.of(keys.FLOW, name), k) in ref for k in steps):
            ax.plot(steps, series(ref, keys.of(keys.FLOW, name)), "k:", label=keys.LABELS[keys.FLOW])
        ax.set_xlabel("horizon step")
        ax.set_ylabel(label)
        ax.set_xticks(steps)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return True


def _grid(folder: Path, exps: Sequence["Experiment"], clips: Sequence[tuple[str, torch.Tensor]],
          preds: Mapping[int, Any], n_ctx: int, scale: int) -> str:
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    head = ["clip", "context", "truth", "copy-last"] + [html.escape(e.name) for e in exps]
    rows = []
    for i, (video, frames) in enumerate(clips):
        context, truth = frames[:n_ctx], frames[n_ctx:]
        columns: list[tuple[str, Any]] = [("context", context), ("truth", truth),
                                          ("copy_last", context[-1:].expand_as(truth))]
        columns += [(f"exp{j}", p[i] if isinstance(p, list) else p) for j, p in enumerate(preds[id(e)] for e in exps)]
        cells = [f"<td>{html.escape(video)}</td>"]
        for name, value in columns:
            if isinstance(value, torch.Tensor):
                rel = f"clips/{i:02d}_{name}.png"
                (folder / rel).write_bytes(column_png(value, scale))
                cells.append(f'<td><img src="{rel}" alt="{name}"></td>')
            else:
                cells.append(f"<td class=note>{html.escape(str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f"<th class=method>{h}</th>" if k else f"<th>{h}</th>" for k, h in enumerate(head))
    return f"<table id=grid><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_page(out_dir: Path, exps: Sequence["Experiment"], diff: Sequence[str],
               clips: Sequence[tuple[str, torch.Tensor]], preds: Mapping[int, Any], *,
               n_ctx: int, horizon: int, scale: int = 2) -> Path:
    """Write the whole page into ``out_dir`` (replaced atomically); return ``out_dir/index.html``."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as folder:
        plot = ('<img src="per_step.png" alt="per-step metrics">' if _plot(exps, horizon, folder / "per_step.png")
                else "<p>No experiment has test metrics yet (run the evaluate stage).</p>")
        grid = _grid(folder, exps, clips, preds, n_ctx, scale)
        body = (f"<h1>vfp compare: {len(exps)} experiments</h1>"
                f"<p>One row per experiment DVC lists (<code>dvc exp show</code>); test metrics (PSNR in dB) from "
                f"<code>metrics/metrics.json</code> at each revision, the baselines in grey.</p>"
                f"{_table(exps, diff, horizon)}<h2>Metrics per horizon step</h2>{plot}"
                f"<h2>The same {len(clips)} test clips</h2><p>Time runs down: {n_ctx} context frames, then "
                f"{horizon} frames true, repeated (copy-last) and predicted by each experiment's model "
                f"(read from DVC at its revision).</p>{grid}")
        page = (f"<!doctype html><html><head><meta charset=utf-8><title>vfp compare</title>"
                f"<style>{STYLE}</style></head><body>{body}{LOAD_SCRIPT}</body></html>\n")
        atomic_write_text(folder / "index.html", page)
    return out_dir / "index.html"
