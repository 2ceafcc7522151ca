"""Evaluation: the trained model AND copy-last on the whole test split, same clips, same targets.

Outputs (all written atomically):

* ``metrics/metrics.json``  flat DVC metrics, see :func:`vfp.metrics.flat_metrics`: for every
  metric ``m`` in :data:`vfp.metrics.METRIC_NAMES` and step ``k = 1..horizon``: ``m_t{k}``,
  ``m_mean``, ``copy_last_m_t{k}``, ``copy_last_m_mean``, ``m_gain_t{k}``, ``m_gain_mean``;
  plus ``n_clips``. Undefined values (NaN, e.g. a moving-pixel metric with no moving pixel) are
  ``null``. The key set depends only on ``evaluate.horizon``, never on the model, so
  ``dvc metrics diff`` lines up across experiments.
* ``metrics/per_step.csv``  one row per horizon step: ``step, m, copy_last_m, m_gain`` for every
  metric (DVC plots, e.g. ``x: step, y: [psnr, copy_last_psnr]``).
* ``reports/<model>/gifs/<video stem>_{expected,generated}_large.gif`` for the first
  ``evaluate.gifs`` test videos (context frames followed by the true / predicted future).
* ``reports/<model>/index.html`` (+ PNG plots) via :func:`vfp.report.write_report`, with the
  training loss history from ``models/<model>/logs/`` when present.

Clips: every test video gives one clip of ``n_ctx + horizon`` frames (every ``data.interval``
frames, fixed start), ``n_ctx = max(model.n_input, MIN_CONTEXT)``. The model sees the last
``n_input`` of the ``n_ctx`` context frames and predicts ``horizon`` frames autoregressively
(``model(context, horizon)``, eval mode, no grad); copy-last repeats the last context frame, so
both are scored on exactly the same target frames. ``MIN_CONTEXT = 4`` (the largest default
``n_input``) keeps the clips, hence the targets and every ``copy_last_*`` value, identical across
experiments whose models take up to 4 input frames, so ``dvc metrics diff`` compares like with like.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from vfp.config import Config
from vfp.errors import VfpError
from vfp.fileio import atomic_write_text

__all__ = [
    "evaluate",
    "create_test_evaluator",
    "summary_lines",
    "rebuild_report",
    "load_model_for",
    "read_loss_history",
    "read_per_step_csv",
    "gif_pairs_in",
    "gif_scale",
    "DEFAULT_METRICS",
    "DEFAULT_PER_STEP",
    "MIN_CONTEXT",
]

DEFAULT_METRICS = Path("metrics/metrics.json")
DEFAULT_PER_STEP = Path("metrics/per_step.csv")
EXPECTED_SUFFIX = "_expected_large.gif"
GENERATED_SUFFIX = "_generated_large.gif"
MIN_CONTEXT = 4
LOSS_FILES = ("train_epoch.csv", "train_epoch.tsv", "train_steps.csv", "train_steps.tsv", "loss.csv", "loss.tsv")


# ---------------------------------------------------------------- small helpers

def gif_scale(size: tuple[int, int], target: int = 256) -> int:
    """Nearest-neighbour upscale so that the longer side of a GIF is about ``target`` pixels."""
    return max(1, target // max(size))


def load_model_for(cfg: Config, model_path: Path) -> nn.Module:
    """The model ``cfg.model`` from ``model_path`` (eval mode, CPU).

    A missing file for ``copy_last`` is fine (nothing to train: built from its params section);
    a file holding another model than ``cfg.model`` is a VfpError.
    """
    model_path = Path(model_path)
    if cfg.model == "copy_last" and not model_path.is_file():
        from vfp.models.registry import build_model

        return build_model("copy_last", **dict(cfg.copy_last.net)).eval()
    from vfp.modelio import load_trained

    name, model = load_trained(model_path)
    if name != cfg.model:
        raise VfpError(f"{model_path}: holds model {name!r} but params select model {cfg.model!r}; "
                       f"retrain (dvc repro train) or pass the right model file")
    return model.eval()


def read_loss_history(logs_dir: Path) -> list[dict] | None:
    """Per-epoch training losses from ``<logs_dir>/train_epoch.csv`` (or a TSV / per-step file).

    Rows are ``{column: float}`` (``epoch``/``step`` as int); None when no log file exists.
    """
    logs_dir = Path(logs_dir)
    for name in LOSS_FILES:
        path = logs_dir / name
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t" if name.endswith(".tsv") else ",")
            rows = []
            for raw in reader:
                row: dict[str, Any] = {}
                for k, v in raw.items():
                    if k is None or v in (None, ""):
                        continue
                    try:
                        num = float(v)
                    except ValueError:
                        continue
                    row[k] = int(num) if k in ("epoch", "step", "iteration") and num.is_integer() else num
                if row:
                    rows.append(row)
        if rows:
            return rows
    return None


def read_per_step_csv(path: Path) -> dict[str, dict[str, list[float]]]:
    """``metrics/per_step.csv`` -> ``{"model": {m: [per step]}, "copy_last": {m: [...]}}`` (NaN for empty)."""
    path = Path(path)
    if not path.is_file():
        raise VfpError(f"{path}: not found; run the evaluate stage first (dvc repro evaluate)")
    with path.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r.get("step") or 0))
    if not rows:
        raise VfpError(f"{path}: no rows; run the evaluate stage again")
    columns = list(rows[0])
    names = [c for c in columns if c not in ("step", "model") and not c.startswith("copy_last_")
             and not c.endswith("_gain") and f"copy_last_{c}" in columns]

    def num(v: str | None) -> float:
        try:
            return float(v) if v not in (None, "") else float("nan")
        except ValueError:
            return float("nan")

    return {
        "model": {m: [num(r.get(m)) for r in rows] for m in names},
        "copy_last": {m: [num(r.get(f"copy_last_{m}")) for r in rows] for m in names},
    }


def gif_pairs_in(gif_dir: Path) -> list[tuple[Path, Path]]:
    """``(expected, generated)`` GIF pairs in ``gif_dir``, sorted by video stem."""
    gif_dir = Path(gif_dir)
    if not gif_dir.is_dir():
        return []
    pairs = []
    for expected in sorted(gif_dir.glob(f"*{EXPECTED_SUFFIX}")):
        generated = expected.with_name(expected.name[: -len(EXPECTED_SUFFIX)] + GENERATED_SUFFIX)
        if generated.is_file():
            pairs.append((expected, generated))
    return pairs


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}
    atomic_write_text(Path(path), json.dumps(clean, indent=2, allow_nan=False) + "\n")


def _clean_stale_gifs(gif_dir: Path, keep: set[str]) -> None:
    """Remove GIF pairs of an earlier run that this run did not write (fewer gifs, other videos)."""
    if not gif_dir.is_dir():
        return
    for path in gif_dir.iterdir():
        if path.name.endswith((EXPECTED_SUFFIX, GENERATED_SUFFIX)) and path.name not in keep:
            path.unlink()


# ---------------------------------------------------------------- the evaluation loop

def create_test_evaluator(model: nn.Module, *, n_ctx: int, horizon: int, device: torch.device,
                          moving_threshold: float, n_gifs: int, same_as_copy: bool = False):
    """Ignite Engine whose step runs the model and copy-last on one batch and updates the accumulators.

    Batches are dicts with ``frames [B, n_ctx + horizon, C, H, W]`` (and ``video`` names); the
    model gets the last ``model.n_input`` of the ``n_ctx`` context frames.

    ``engine.state`` gets ``acc_model`` / ``acc_copy`` (:class:`vfp.metrics.MetricAccumulator`),
    ``n_clips`` and ``gif_clips`` (the first ``n_gifs`` clips as CPU tensors: video, context,
    pred, target). Metrics are computed once per batch (once only when the model IS copy-last).
    """
    from ignite.engine import Engine, Events

    from vfp.metrics import MetricAccumulator, copy_last_prediction, per_step_metrics

    n_input = int(model.n_input)
    if n_input > n_ctx:
        raise ValueError(f"n_ctx {n_ctx} < the model's n_input {n_input}")

    @torch.no_grad()
    def step(engine: Engine, batch: Mapping[str, Any]) -> None:
        frames = batch["frames"].to(device, non_blocking=device.type == "cuda").float()
        context, target = frames[:, :n_ctx], frames[:, n_ctx:n_ctx + horizon]
        last = context[:, -1]
        try:
            pred = model(context[:, n_ctx - n_input:], horizon)
        except ValueError as err:  # e.g. frame size not divisible by the model's stride
            raise VfpError(f"the model cannot predict these clips: {err}") from None
        pred = pred.float()
        m_model = per_step_metrics(pred, target, last, moving_threshold)
        if same_as_copy:
            m_copy = m_model
        else:
            m_copy = per_step_metrics(copy_last_prediction(last, horizon), target, last, moving_threshold)
        engine.state.acc_model.update(m_model)
        engine.state.acc_copy.update(m_copy)
        engine.state.n_clips += frames.shape[0]
        videos = batch.get("video", [""] * frames.shape[0])
        for i in range(frames.shape[0]):
            if len(engine.state.gif_clips) >= n_gifs:
                break
            engine.state.gif_clips.append(
                (str(videos[i]), context[i].cpu(), pred[i].cpu(), target[i].cpu()))

    engine = Engine(step)

    @engine.on(Events.STARTED)
    def _reset(engine: Engine) -> None:
        engine.state.acc_model = MetricAccumulator()
        engine.state.acc_copy = MetricAccumulator()
        engine.state.n_clips = 0
        engine.state.gif_clips = []

    return engine


def evaluate(cfg: Config, *, model_path: Path | None = None, split_dir: Path = Path("data/split"),
             metrics_path: Path = DEFAULT_METRICS, per_step_path: Path = DEFAULT_PER_STEP,
             report_dir: Path | None = None, logs_dir: Path | None = None,
             num_workers: int | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Evaluate ``cfg.model`` and copy-last on the test split; write metrics, GIFs and the report.

    Defaults: ``model_path = models/<model>/model.pt``, ``report_dir = reports/<model>``,
    ``logs_dir = models/<model>/logs``, ``num_workers = train.num_workers``.
    Returns the flat metrics dict (as written to ``metrics_path``).
    """
    from torch.utils.data import DataLoader

    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split
    from vfp.engines.common import resolve_device
    from vfp.gif import write_gif_pair
    from vfp.metrics import flat_metrics, per_step_rows, write_rows_csv

    model_path = Path(model_path) if model_path is not None else Path("models") / cfg.model / "model.pt"
    report_dir = Path(report_dir) if report_dir is not None else Path("reports") / cfg.model
    logs_dir = Path(logs_dir) if logs_dir is not None else Path("models") / cfg.model / "logs"
    ev = cfg.evaluate
    horizon = ev.horizon

    from vfp.modelio import check_writable

    for folder in {Path(metrics_path).parent, Path(per_step_path).parent, report_dir}:
        check_writable(folder)  # fail before the long run, not after it
    model = load_model_for(cfg, model_path)
    n_input = int(model.n_input)
    n_ctx = max(n_input, MIN_CONTEXT)
    device = resolve_device(cfg.train.device)
    model = model.to(device).eval()

    cache = Path(cfg.data.cache) if cfg.data.cache else None
    dataset = ClipDataset(read_split(Path(split_dir), "test"), n_frames=n_ctx + horizon,
                          interval=cfg.data.interval, size=cfg.data.size, random_start=False,
                          clips_per_video=1, cache_dir=cache)
    if len(dataset) == 0:
        raise VfpError(f"{Path(split_dir) / 'test.txt'}: no test video is long enough for "
                       f"{n_ctx + horizon} frames every {cfg.data.interval} ({n_ctx} context + "
                       f"horizon {horizon})")
    workers = cfg.train.num_workers if num_workers is None else num_workers
    loader = DataLoader(dataset, batch_size=ev.batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda", drop_last=False)

    engine = create_test_evaluator(model, n_ctx=n_ctx, horizon=horizon, device=device,
                                   moving_threshold=ev.moving_threshold, n_gifs=ev.gifs,
                                   same_as_copy=cfg.model == "copy_last")
    engine.run(loader, max_epochs=1)
    state = engine.state

    model_steps, copy_steps = state.acc_model.per_step(), state.acc_copy.per_step()
    flat: dict[str, Any] = dict(flat_metrics(model_steps, copy_steps))
    flat["n_clips"] = int(state.n_clips)
    _write_json(Path(metrics_path), flat)
    write_rows_csv(per_step_rows(model_steps, copy_steps), per_step_path)

    gif_dir = report_dir / "gifs"
    scale = gif_scale(cfg.data.size)
    written: set[str] = set()
    used_stems: set[str] = set()
    for video, context, pred, target in state.gif_clips:
        stem, k = video or "clip", 2
        while stem in used_stems:  # two test videos with one stem (folder sources): keep both
            stem, k = f"{video}_{k}", k + 1
        used_stems.add(stem)
        expected, generated = write_gif_pair(context, pred, target, gif_dir, stem, scale=scale)
        written.update({expected.name, generated.name})
    _clean_stale_gifs(gif_dir, written)

    from vfp.report import write_report

    write_report(report_dir, model=cfg.model, flat=flat,
                 steps={"model": model_steps, "copy_last": copy_steps},
                 loss_history=read_loss_history(logs_dir), gif_pairs=gif_pairs_in(gif_dir))
    if log is not None:
        log(f"evaluated {state.n_clips} test clips ({n_ctx} context frames, {cfg.model} uses the last "
            f"{n_input}; {horizon} predicted) on {device}")
    return flat


def rebuild_report(cfg: Config, *, metrics_path: Path = DEFAULT_METRICS, per_step_path: Path = DEFAULT_PER_STEP,
                   report_dir: Path | None = None, logs_dir: Path | None = None) -> Path:
    """Rewrite ``reports/<model>/index.html`` from the metric files, GIFs and logs (no model run)."""
    report_dir = Path(report_dir) if report_dir is not None else Path("reports") / cfg.model
    logs_dir = Path(logs_dir) if logs_dir is not None else Path("models") / cfg.model / "logs"
    metrics_path = Path(metrics_path)
    if not metrics_path.is_file():
        raise VfpError(f"{metrics_path}: not found; run the evaluate stage first (dvc repro evaluate)")
    try:
        flat = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VfpError(f"{metrics_path}: not valid JSON ({err})") from None
    if not isinstance(flat, dict):
        raise VfpError(f"{metrics_path}: expected a JSON object of metrics")
    steps = read_per_step_csv(Path(per_step_path))
    from vfp.report import write_report

    return write_report(report_dir, model=cfg.model, flat=flat, steps=steps,
                        loss_history=read_loss_history(logs_dir), gif_pairs=gif_pairs_in(report_dir / "gifs"))


def summary_lines(flat: Mapping[str, Any], model: str) -> list[str]:
    """Three lines: PSNR t+1, SSIM t+1 (model vs copy-last, gain) and the clip count."""

    def f(key: str, fmt: str) -> str:
        v = flat.get(key)
        return "n/a" if v is None else format(v, fmt)

    return [
        f"psnr t+1: {model} {f('psnr_t1', '.2f')} dB | copy-last {f('copy_last_psnr_t1', '.2f')} dB | "
        f"gain {f('psnr_gain_t1', '+.2f')} dB (mean over steps {f('psnr_gain_mean', '+.2f')} dB)",
        f"ssim t+1: {model} {f('ssim_t1', '.4f')} | copy-last {f('copy_last_ssim_t1', '.4f')} | "
        f"gain {f('ssim_gain_t1', '+.4f')}",
        f"{flat.get('n_clips', 0)} test clips",
    ]
