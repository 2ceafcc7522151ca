"""Evaluation: the trained model AND the non-learned baselines on the test split, same clips, same targets.

Outputs (all written atomically):

* ``metrics/metrics.json``  flat DVC metrics, see :func:`vfp.metrics.flat_metrics`: for every
  metric ``m`` in :data:`vfp.metrics.METRIC_NAMES` and step ``k = 1..horizon``: ``m_t{k}``, ``m_mean``;
  for every baseline ``b`` of :data:`vfp.baselines.NAMES` (copy-last, flow extrapolation)
  ``b_m_t{k}``, ``b_m_mean``; the gains ``m_gain_t{k}`` (over the first baseline, copy-last) and
  ``m_gain_<b>_t{k}`` (over the others); plus ``n_clips``, ``eval_height``, ``eval_width``.
  Undefined values (NaN, e.g. a moving-pixel metric with no moving pixel) are ``null``. The key set
  depends only on ``evaluate.horizon``, never on the model, so ``dvc metrics diff`` lines up.
* ``metrics/per_step.csv``  one row per horizon step (DVC plots, e.g. ``x: step, y: [psnr, copy_last_psnr]``).
* ``reports/<model>/gifs/<video stem>_{expected,generated}_large.gif`` for the first
  ``evaluate.gifs`` test videos (context frames followed by the true / predicted future).
* ``reports/<model>/index.html`` (+ PNG plots) via :func:`vfp.report.write_report`.

Clips: every ``evaluate.every``-th test video gives ``evaluate.clips_per_video`` clips of
``n_ctx + horizon`` frames (every ``data.interval`` frames, fixed evenly spaced starts) at
``evaluate.size``, ``n_ctx = max(model.n_input, evaluate.context)``. The model sees the last
``n_input`` context frames and predicts ``horizon`` frames autoregressively; the baselines are scored
on exactly the same target frames. Masks and baseline statistics depend only on the clips and the
protocol: they are cached under
``<data.cache>/baselines/`` and reused by every later evaluation of other models.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from vfp.config import Config, decode_size
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

    A missing file for a model whose recipe trains nothing (a baseline) is fine: it is built from
    its params section; a file holding another model than ``cfg.model`` is a VfpError.
    """
    from vfp.modelio import load_trained, load_untrained

    model_path = Path(model_path)
    if not model_path.is_file():
        model = load_untrained(cfg)
        if model is not None:
            return model

    name, model = load_trained(model_path)
    if name != cfg.model:
        raise VfpError(f"{model_path}: holds model {name!r} but params select model {cfg.model!r}; "
                       f"retrain (dvc repro train) or pass the right model file")
    return model.eval()


def read_loss_history(logs_dir: Path) -> list[dict] | None:
    """Per-epoch training losses: dvclive's curves in ``<logs_dir>`` (what training writes, see
    vfp.handlers.live), else ``<logs_dir>/train_epoch.csv`` (or a TSV / per-step file).

    Rows are ``{column: float}`` (``epoch``/``step`` as int); None when no log file exists.
    """
    from vfp.handlers.live import read_history

    logs_dir = Path(logs_dir)
    live = read_history(logs_dir)
    if live:
        return live
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


def read_selection(logs_dir: Path) -> dict | None:
    """The ``selected`` entry (exported epoch, phase, why) of ``<logs_dir>/summary.json``, or None."""
    try:
        selected = json.loads((Path(logs_dir) / "summary.json").read_text()).get("selected")
    except (OSError, ValueError, AttributeError):
        return None
    return selected if isinstance(selected, dict) else None


def read_per_step_csv(path: Path) -> dict[str, dict[str, list[float]]]:
    """``metrics/per_step.csv`` -> ``{"model": {m: [per step]}, <baseline>: {m: [...]}, ...}`` (NaN for empty)."""
    from vfp.baselines import NAMES

    path = Path(path)
    if not path.is_file():
        raise VfpError(f"{path}: not found; run the evaluate stage first (dvc repro evaluate)")
    with path.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r.get("step") or 0))
    if not rows:
        raise VfpError(f"{path}: no rows; run the evaluate stage again")
    columns = list(rows[0])
    bases = [b for b in NAMES if any(c.startswith(f"{b}_") for c in columns)]
    names = [c for c in columns if c not in ("step", "model") and "_gain" not in c
             and not any(c.startswith(f"{b}_") for b in bases) and all(f"{b}_{c}" in columns for b in bases)]

    def num(v: str | None) -> float:
        try:
            return float(v) if v not in (None, "") else float("nan")
        except ValueError:
            return float("nan")

    out = {"model": {m: [num(r.get(m)) for r in rows] for m in names}}
    out.update({b: {m: [num(r.get(f"{b}_{m}")) for r in rows] for m in names} for b in bases})
    return out


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


# ---------------------------------------------------------------- protocol: videos, size, clips

def select_videos(videos: list, every: int) -> list:
    """Every ``every``-th test video in split order: items 0, every, 2 * every, ..."""
    return list(videos)[::every]


def source_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of a video file's first video stream (PyAV); VfpError when unreadable."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return int(stream.height), int(stream.width)
    except Exception as err:  # noqa: BLE001 - any container error is one line naming the file
        raise VfpError(f"{path}: cannot read the video size for evaluate.size: source "
                       f"({str(err).splitlines()[0][:80] if str(err) else type(err).__name__})") from None


def resolve_eval_size(cfg: Config, videos: list) -> tuple[int, int]:
    """``evaluate.size`` as ``(H, W)``: ``train`` = data.size, ``source`` (or ``train`` when data.size is
    ``source``) = the first test video's own size."""
    size = cfg.evaluate.size
    if size == "train" and cfg.data.size != "source":
        return tuple(cfg.data.size)
    if size in ("source", "train"):  # train at data.size: source = the test videos' own size
        if not videos:
            raise VfpError("evaluate.size: source needs at least one test video")
        return source_size(Path(videos[0].path))
    return tuple(size)


def check_model_size(model: nn.Module, size: tuple[int, int], name: str) -> None:
    """One-line VfpError when ``model`` cannot run on ``size`` frames (its ``stride`` must divide H and W)."""
    stride = int(getattr(model, "stride", 1) or 1)
    if size[0] % stride or size[1] % stride:
        raise VfpError(f"params.yaml: evaluate.size {list(size)}: {name} needs H and W divisible by its stride "
                       f"{stride}; pick evaluate.size [H, W] with multiples of {stride} (or evaluate.size: train)")


class _Keyed(torch.utils.data.Dataset):
    """A clip dataset whose items also carry ``key`` = ``index:video:start`` (the baseline cache key) and
    ``clip``, the clip's number within its video (0 .. ``clips_per_video - 1``)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        item["key"] = f"{index}:{item.get('video', '')}:{item.get('start', '')}"
        item["clip"] = index % getattr(self.dataset, "clips_per_video", 1)
        return item


def baseline_cache_for(cfg: Config, split_file: Path, videos: list, *, n_ctx: int,
                       size: tuple[int, int]):
    """The :class:`vfp.baselines.BaselineCache` of these test clips, protocol and size
    (under ``<data.cache>/baselines/``; in memory only when ``data.cache`` is empty)."""
    import hashlib

    from vfp.baselines import BaselineCache, cache_key
    from vfp.metrics import STAT_NAMES

    ev = cfg.evaluate

    def stamp(path: Path) -> str:
        try:
            st = Path(path).stat()
            return f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            return "missing"

    parts = {"split": hashlib.sha256(Path(split_file).read_bytes()).hexdigest(),
             "videos": [[repr(v), stamp(v.path)] for v in videos], "n_ctx": n_ctx, "horizon": ev.horizon,
             "interval": cfg.data.interval, "size": list(size), "every": ev.every,
             "clips_per_video": ev.clips_per_video, "mask": ev.mask,
             "moving_threshold": ev.moving_threshold, "flow_threshold": ev.flow_threshold,
             "skip_above_db": ev.skip_above_db, "ssim": ev.ssim, "stats": list(STAT_NAMES),
             "decoder": getattr(cfg.data, "decoder", None),
             "train_size": list(decode_size(cfg.data.size) or ["source"])}
    folder = Path(cfg.data.cache) / "baselines" if cfg.data.cache else None
    return BaselineCache(folder, cache_key(parts, cfg.flow))


# ---------------------------------------------------------------- the evaluation loop

def create_test_evaluator(model: nn.Module, *, n_ctx: int, horizon: int, device: torch.device, ev: Any,
                          n_gifs: int, cache=None, flow_cfg: Any = None):
    """Ignite Engine whose step runs the model on one batch and scores it beside the baselines.

    Batches are dicts with ``frames [B, n_ctx + horizon, C, H, W]``, ``video`` names and ``key``s; the
    model gets the last ``model.n_input`` of the ``n_ctx`` context frames. Masks and baseline statistics
    come from ``cache`` (:class:`vfp.baselines.BaselineCache`) when it holds the batch's keys, and are
    computed and stored there otherwise; ``ev`` is the evaluate settings (mask, thresholds, ssim),
    ``flow_cfg`` the ``flow`` section (the flow baseline's method; None: Farneback).

    ``engine.state`` gets ``acc_model`` and ``acc_base`` (``{baseline: MetricAccumulator}``),
    ``n_clips``, ``baseline_s`` (seconds spent computing baselines) and ``gif_clips`` (the first
    ``n_gifs`` clips as CPU tensors: video, context, pred, target).
    """
    import time

    from ignite.engine import Engine, Events

    from vfp.baselines import NAMES, BaselineCache, baseline_batch
    from vfp.metrics import MetricAccumulator, per_step_metrics

    n_input = int(model.n_input)
    if n_input > n_ctx:
        raise ValueError(f"n_ctx {n_ctx} < the model's n_input {n_input}")
    cache = cache if cache is not None else BaselineCache(None, "memory")

    @torch.no_grad()
    def step(engine: Engine, batch: Mapping[str, Any]) -> None:
        frames = batch["frames"].to(device, non_blocking=device.type == "cuda").float()
        context, target = frames[:, :n_ctx], frames[:, n_ctx:n_ctx + horizon]
        keys = list(batch.get("key", []))
        rec = cache.lookup(keys) if keys else None
        if rec is None:
            t0 = time.perf_counter()
            rec = baseline_batch(context, target, ev, flow_cfg)
            engine.state.baseline_s += time.perf_counter() - t0
            if keys:
                cache.store(keys, rec)
        try:
            pred = model(context[:, n_ctx - n_input:], horizon).float()
        except ValueError as err:  # e.g. frame size not divisible by the model's stride
            raise VfpError(f"the model cannot predict these clips: {err}") from None
        engine.state.acc_model.update(per_step_metrics(pred, target, context[:, -1], mask=rec["mask"],
                                                       keep=rec["keep"], ssim_luma=ev.ssim == "luma"))
        for name in NAMES:
            engine.state.acc_base[name].update(rec["stats"][name])
        engine.state.n_clips += frames.shape[0]
        videos = batch.get("video", [""] * frames.shape[0])
        clip_numbers = batch.get("clip", [0] * frames.shape[0])
        for i in range(frames.shape[0]):  # the first clip of each of the first n_gifs videos
            if len(engine.state.gif_clips) < n_gifs and int(clip_numbers[i]) == 0:
                engine.state.gif_clips.append((str(videos[i]), context[i].cpu(), pred[i].cpu(), target[i].cpu()))

    engine = Engine(step)

    @engine.on(Events.STARTED)
    def _reset(engine: Engine) -> None:
        engine.state.acc_model = MetricAccumulator()
        engine.state.acc_base = {name: MetricAccumulator() for name in NAMES}
        engine.state.n_clips, engine.state.baseline_s, engine.state.gif_clips = 0, 0.0, []

    return engine


def _test_loader(cfg: Config, split_dir: Path, model: nn.Module, num_workers: int | None, device: torch.device):
    """``(loader, videos, n_ctx, size)`` of the test clips under the evaluate settings; refuses a size the
    model cannot run at, before any decoding."""
    from torch.utils.data import DataLoader

    from vfp.data.clips import ClipDataset
    from vfp.data.splits import read_split

    ev = cfg.evaluate
    n_ctx = max(int(model.n_input), ev.context)
    videos = select_videos(read_split(Path(split_dir), "test"), ev.every)
    size = resolve_eval_size(cfg, videos)
    check_model_size(model, size, cfg.model)
    cache = Path(cfg.data.cache) if cfg.data.cache and size == decode_size(cfg.data.size) else None
    dataset = ClipDataset(videos, n_frames=n_ctx + ev.horizon, interval=cfg.data.interval, size=size,
                          random_start=False, clips_per_video=ev.clips_per_video, cache_dir=cache)
    if len(dataset) == 0:
        raise VfpError(f"{Path(split_dir) / 'test.txt'}: no test video is long enough for "
                       f"{n_ctx + ev.horizon} frames every {cfg.data.interval} ({n_ctx} context + "
                       f"horizon {ev.horizon})")
    workers = cfg.train.num_workers if num_workers is None else num_workers
    loader = DataLoader(_Keyed(dataset), batch_size=ev.batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda", drop_last=False)
    return loader, videos, n_ctx, size


def _write_gifs(gif_clips: list, gif_dir: Path, size: tuple[int, int]) -> None:
    from vfp.gif import write_gif_pair

    written: set[str] = set()
    used_stems: set[str] = set()
    for video, context, pred, target in gif_clips:
        stem, k = video or "clip", 2
        while stem in used_stems:  # two test videos with one stem (folder sources): keep both
            stem, k = f"{video}_{k}", k + 1
        used_stems.add(stem)
        expected, generated = write_gif_pair(context, pred, target, gif_dir, stem, scale=gif_scale(size))
        written.update({expected.name, generated.name})
    _clean_stale_gifs(gif_dir, written)


def evaluate(cfg: Config, *, model_path: Path | None = None, split_dir: Path = Path("data/split"),
             metrics_path: Path = DEFAULT_METRICS, per_step_path: Path = DEFAULT_PER_STEP,
             report_dir: Path | None = None, logs_dir: Path | None = None,
             num_workers: int | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Evaluate ``cfg.model`` beside the baselines on the test split; write metrics, GIFs and the report.

    Defaults: ``model_path = models/<model>/model.pt``, ``report_dir = reports/<model>``,
    ``logs_dir = models/<model>/logs``, ``num_workers = train.num_workers``.
    Returns the flat metrics dict (as written to ``metrics_path``).
    """
    import time

    from vfp.engines.common import resolve_device
    from vfp.fileio import check_writable
    from vfp.metrics import flat_metrics, per_step_rows, write_rows_csv

    t_start = time.perf_counter()
    model_path = Path(model_path) if model_path is not None else Path("models") / cfg.model / "model.pt"
    report_dir = Path(report_dir) if report_dir is not None else Path("reports") / cfg.model
    logs_dir = Path(logs_dir) if logs_dir is not None else Path("models") / cfg.model / "logs"
    for folder in {Path(metrics_path).parent, Path(per_step_path).parent, report_dir}:
        check_writable(folder)  # fail before the long run, not after it
    model = load_model_for(cfg, model_path)
    device = resolve_device(cfg.train.device)
    loader, videos, n_ctx, size = _test_loader(cfg, split_dir, model, num_workers, device)
    model = model.to(device).eval()
    cache = baseline_cache_for(cfg, Path(split_dir) / "test.txt", videos, n_ctx=n_ctx, size=size)
    engine = create_test_evaluator(model, n_ctx=n_ctx, horizon=cfg.evaluate.horizon, device=device,
                                   ev=cfg.evaluate, n_gifs=cfg.evaluate.gifs, cache=cache, flow_cfg=cfg.flow)
    engine.run(loader, max_epochs=1)
    cache.save()
    state = engine.state

    model_steps = state.acc_model.per_step()
    base_steps = {name: acc.per_step() for name, acc in state.acc_base.items()}
    flat: dict[str, Any] = dict(flat_metrics(model_steps, base_steps))
    flat.update(n_clips=int(state.n_clips), eval_height=int(size[0]), eval_width=int(size[1]))
    _write_json(Path(metrics_path), flat)
    write_rows_csv(per_step_rows(model_steps, base_steps), per_step_path)
    _write_gifs(state.gif_clips, report_dir / "gifs", size)

    from vfp.report import write_report

    write_report(report_dir, model=cfg.model, flat=flat, steps={"model": model_steps, **base_steps},
                 loss_history=read_loss_history(logs_dir), gif_pairs=gif_pairs_in(report_dir / "gifs"),
                 selection=read_selection(logs_dir))
    if log is not None:
        how = f"computed in {state.baseline_s:.1f} s" if state.baseline_s else f"reused from {cache.path}"
        log(f"evaluated {state.n_clips} test clips at {size[0]}x{size[1]} ({n_ctx} context frames, {cfg.model} "
            f"uses the last {model.n_input}; {cfg.evaluate.horizon} predicted) on {device} in "
            f"{time.perf_counter() - t_start:.1f} s; baselines {how}")
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
    """Three lines: PSNR t+1 and SSIM t+1 (model vs each baseline, gain over the first) and the clip count."""
    from vfp.baselines import LABELS, NAMES

    def f(key: str, fmt: str) -> str:
        v = flat.get(key)
        return "n/a" if v is None else format(v, fmt)

    psnr = " | ".join(f"{LABELS[b]} {f(f'{b}_psnr_t1', '.2f')} dB" for b in NAMES)
    ssim = " | ".join(f"{LABELS[b]} {f(f'{b}_ssim_t1', '.4f')}" for b in NAMES)
    size = f" at {flat['eval_height']}x{flat['eval_width']}" if "eval_height" in flat else ""
    return [
        f"psnr t+1: {model} {f('psnr_t1', '.2f')} dB | {psnr} | gain {f('psnr_gain_t1', '+.2f')} dB "
        f"(mean over steps {f('psnr_gain_mean', '+.2f')} dB)",
        f"ssim t+1: {model} {f('ssim_t1', '.4f')} | {ssim} | gain {f('ssim_gain_t1', '+.4f')}",
        f"{flat.get('n_clips', 0)} test clips{size}",
    ]
