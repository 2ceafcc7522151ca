"""Evaluation: the trained model AND the non-learned baselines on the test split, same clips, same targets.

Outputs (all written atomically; the paths come from the caller, ``dvc.yaml`` names them):

* the metrics file (``metrics/metrics.json``): flat DVC metrics (:mod:`vfp.results`, keys of
  :mod:`vfp.keys`: per metric, step and baseline, and the gains) plus ``n_clips`` (scored),
  ``n_clips_unreadable`` (test clips that failed to decode: skipped, never replaced), ``eval_height``,
  ``eval_width`` (the first test video's, when each video is scored at its own size), ``eval_sizes`` (how
  many sizes). The key set depends only on ``evaluate.horizon``, never on the model, so ``dvc metrics diff``
  lines up.
* the per-step file (``metrics/per_step.csv``): one row per horizon step (DVC plots).
* ``<report>/gifs/<video stem>_{expected,generated}_large.gif`` for ``evaluate.gifs`` test videos, the
  first of each class in turn (context frames followed by the true / predicted future), and
  ``<report>/index.html``.

Which clips, at what size: :mod:`vfp.testset`. The model sees the last ``n_input`` context frames and
predicts ``horizon`` frames autoregressively; the baselines are scored on exactly the same target frames.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from torch import nn

from vfp.config import Config
from vfp.engines.common import resolve_device
from vfp.engines.testing import BaselineSource, GifClips, create_test_evaluator
from vfp.errors import VfpError
from vfp.fileio import check_writable
from vfp.gif import gif_scale, write_gif_pair
from vfp.keys import BASELINES, MODEL
from vfp.modelio import load_trained, load_untrained
from vfp.report import write_report
from vfp.results import flat_metrics, per_step_rows, write_metrics_json, write_rows_csv
from vfp.runs import (
    METRICS_FILE,
    PER_STEP_FILE,
    RunLayout,
    gif_pairs_in,
    is_gif_pair_file,
    read_json_object,
    read_loss_history,
    read_per_step_csv,
    read_selection,
)
from vfp.testset import gif_videos, test_set

__all__ = ["evaluate", "rebuild_report", "load_model_for"]


def load_model_for(cfg: Config, model_path: Path) -> nn.Module:
    """The model ``cfg.model`` from ``model_path`` (eval mode, CPU).

    A missing file for a model whose recipe trains nothing (a baseline) is fine: it is built from its
    params section; a file holding another model than ``cfg.model`` is a VfpError.
    """
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


def _write_gifs(gif_clips: list, gif_dir: Path) -> None:
    """GIF pairs of ``gif_clips``; pairs of an earlier run that this run did not write are removed."""
    written: set[str] = set()
    used_stems: set[str] = set()
    for video, context, pred, target in gif_clips:
        stem, k = video or "clip", 2
        while stem in used_stems:  # two test videos with one stem (folder sources): keep both
            stem, k = f"{video}_{k}", k + 1
        used_stems.add(stem)
        expected, generated = write_gif_pair(context, pred, target, gif_dir, stem,
                                             scale=gif_scale(tuple(context.shape[-2:])))
        written.update({expected.name, generated.name})
    if gif_dir.is_dir():
        for path in gif_dir.iterdir():
            if is_gif_pair_file(path.name) and path.name not in written:
                path.unlink()


def check_scored(scored: int, unreadable: int, split_file: Path) -> None:
    """One-line VfpError when no test clip could be read (each was reported in its own line)."""
    if scored == 0:
        raise VfpError(f"{split_file}: none of the {unreadable} test clips could be read (see the lines above); "
                       "check those videos, or set data.decoder (auto | decord | pyav) and re-run the split")


def unread_note(unreadable: int) -> str:
    return f" ({unreadable} unreadable clips skipped, not scored)" if unreadable else ""


def evaluate(cfg: Config, *, model_path: Path | None = None, split_dir: Path = Path("data/split"),
             metrics_path: Path = METRICS_FILE, per_step_path: Path = PER_STEP_FILE,
             report_dir: Path | None = None, logs_dir: Path | None = None,
             num_workers: int | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Evaluate ``cfg.model`` beside the baselines on the test split; write metrics, GIFs and the report.

    Defaults: the model file, report folder and logs of :meth:`vfp.runs.RunLayout.for_model`,
    ``num_workers = train.num_workers``. Returns the flat metrics dict (as written to ``metrics_path``).
    """
    t_start, layout = time.perf_counter(), RunLayout.for_model(cfg.model)
    model_path, report_dir = Path(model_path or layout.model_file), Path(report_dir or layout.report_dir)
    for folder in {Path(metrics_path).parent, Path(per_step_path).parent, report_dir}:
        check_writable(folder)  # fail before the long run, not after it
    model = load_model_for(cfg, model_path)
    device = resolve_device(cfg.train.device)
    workers = cfg.train.num_workers if num_workers is None else num_workers
    clips = test_set(cfg, split_dir, model, num_workers=workers, device=device)
    baselines = BaselineSource(cfg.evaluate, clips.cache, cfg.flow)
    gifs = GifClips(cfg.evaluate.gifs, gif_videos(clips.videos, cfg.evaluate.gifs))
    engine = create_test_evaluator(model.to(device).eval(), n_ctx=clips.n_ctx, horizon=cfg.evaluate.horizon,
                                   device=device, baselines=baselines)
    gifs.attach(engine)
    engine.run(clips.loader, max_epochs=1)
    check_scored(engine.state.scored, engine.state.unreadable, Path(split_dir) / "test.txt")
    clips.cache.save()
    steps = {name: engine.state.metrics[name] for name in (MODEL, *BASELINES)}
    base_steps = {name: steps[name] for name in BASELINES}
    flat = {**flat_metrics(steps[MODEL], base_steps), "n_clips": engine.state.scored,
            "n_clips_unreadable": engine.state.unreadable,
            "eval_height": int(clips.size[0]), "eval_width": int(clips.size[1]), "eval_sizes": len(clips.sizes)}
    write_metrics_json(Path(metrics_path), flat)
    write_rows_csv(per_step_rows(steps[MODEL], base_steps), per_step_path)
    _write_gifs(gifs.clips, report_dir / "gifs")
    logs_dir = Path(logs_dir or layout.logs)
    write_report(report_dir, model=cfg.model, flat=flat, steps=steps, loss_history=read_loss_history(logs_dir),
                 gif_pairs=gif_pairs_in(report_dir / "gifs"), selection=read_selection(logs_dir))
    if log is not None:
        how = f"computed in {baselines.seconds:.1f} s" if baselines.seconds else f"reused from {clips.cache.path}"
        log(f"evaluated {engine.state.scored} test clips{unread_note(engine.state.unreadable)} at "
            f"{clips.size_text()} ({clips.n_ctx} context "
            f"frames, {cfg.model} uses the last {model.n_input}; {cfg.evaluate.horizon} predicted) on {device} "
            f"in {time.perf_counter() - t_start:.1f} s; baselines {how}")
    return flat


def rebuild_report(cfg: Config, *, metrics_path: Path = METRICS_FILE, per_step_path: Path = PER_STEP_FILE,
                   report_dir: Path | None = None, logs_dir: Path | None = None) -> Path:
    """Rewrite the report's ``index.html`` from the metric files, GIFs and logs (no model run)."""
    layout = RunLayout.for_model(cfg.model)
    report_dir, logs_dir = Path(report_dir or layout.report_dir), Path(logs_dir or layout.logs)
    flat = read_json_object(Path(metrics_path))
    steps = read_per_step_csv(Path(per_step_path))
    return write_report(report_dir, model=cfg.model, flat=flat, steps=steps,
                        loss_history=read_loss_history(logs_dir), gif_pairs=gif_pairs_in(report_dir / "gifs"))
