"""Where a run's files live (:class:`RunLayout`) and the readers of the files training and evaluation write.

One model's run (``dvc.yaml`` passes these paths to the stages; :meth:`RunLayout.for_model` gives the
same ones to the ``vfp`` command and to notebooks):

* ``models/<model>/``  the run folder: ``model.pt``, ``checkpoint_<iteration>.pt``,
  ``best_model_<epoch>_gain_best_t1=<dB>.pt``, ``config.json``, ``snapshots/``, ``logs/`` (dvclive curves,
  ``logs/metrics.json`` and ``logs/summary.json``: the exported epoch and why);
* ``reports/<model>/``  the report folder: ``index.html`` and ``gifs/``;
* ``metrics/metrics.json`` and ``metrics/per_step.csv``  the test metrics (one experiment at a time).

GIF pairs, everywhere (evaluation, snapshots, ``vfp predict``): ``<stem>_expected_large.gif`` (context
frames then the true future) beside ``<stem>_generated_large.gif`` (the same context then the prediction).
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vfp import keys
from vfp.errors import VfpError

MODELS_ROOT = Path("models")
REPORTS_ROOT = Path("reports")
METRICS_FILE = Path("metrics/metrics.json")
PER_STEP_FILE = Path("metrics/per_step.csv")
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
LOGS_DIR, SNAPSHOTS_DIR, SUMMARY_FILE = "logs", "snapshots", "summary.json"
CHECKPOINT_PATTERN = "checkpoint_{global_step}.pt"  # Ignite Checkpoint filename patterns
BEST_PATTERN = "best_model_{global_step}_" + keys.Val.GAIN_BEST_T1.value + "={score}.pt"
CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)\.pt$")
BEST_RE = re.compile(r"^best_model_(\d+)_(?:gain_best|gain|psnr)_t1=(-?[0-9.]+|-?inf|nan)\.pt$")
EXPECTED_SUFFIX = "_expected_large.gif"
GENERATED_SUFFIX = "_generated_large.gif"
LOSS_FILES = ("train_epoch.csv", "train_epoch.tsv", "train_steps.csv", "train_steps.tsv", "loss.csv", "loss.tsv")


@dataclass(frozen=True)
class RunLayout:
    """The files of one model's run: ``run_dir`` (training's output) and ``report_dir`` (evaluation's)."""

    run_dir: Path
    report_dir: Path

    @classmethod
    def for_model(cls, model: str) -> RunLayout:
        """``models/<model>/`` and ``reports/<model>/`` (the paths ``dvc.yaml`` passes)."""
        return cls(MODELS_ROOT / model, REPORTS_ROOT / model)

    @property
    def model_file(self) -> Path:
        return self.run_dir / MODEL_FILE

    @property
    def config_file(self) -> Path:
        return self.run_dir / CONFIG_FILE

    @property
    def logs(self) -> Path:
        return self.run_dir / LOGS_DIR

    @property
    def train_metrics(self) -> Path:
        """dvclive's latest training metrics (``dvc exp show`` reads them)."""
        return self.logs / "metrics.json"

    @property
    def summary(self) -> Path:
        return self.logs / SUMMARY_FILE

    @property
    def snapshots(self) -> Path:
        return self.run_dir / SNAPSHOTS_DIR

    @property
    def gifs(self) -> Path:
        return self.report_dir / "gifs"

    def checkpoints(self) -> list[tuple[int, Path]]:
        return checkpoint_files(self.run_dir)


def checkpoint_files(run_dir: Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of the regular checkpoints in ``run_dir``, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).glob("checkpoint_*.pt") if (m := CHECKPOINT_RE.match(p.name))]
    return sorted(found)


def best_files(run_dir: Path) -> list[tuple[float, int, Path]]:
    """``(score, epoch, path)`` of the kept best-model files, lowest score first."""
    found = [(float(m.group(2)), int(m.group(1)), p) for p in Path(run_dir).glob("best_model_*.pt")
             if (m := BEST_RE.match(p.name))]
    return sorted(found)


# ---------------------------------------------------------------- GIF pairs

def gif_pair_paths(folder: Path, stem: str) -> tuple[Path, Path]:
    """``(expected, generated)`` GIF paths of ``stem`` in ``folder``."""
    return Path(folder) / f"{stem}{EXPECTED_SUFFIX}", Path(folder) / f"{stem}{GENERATED_SUFFIX}"


def is_gif_pair_file(name: str) -> bool:
    return name.endswith((EXPECTED_SUFFIX, GENERATED_SUFFIX))


def gif_stem(path: Path) -> str:
    """The video stem of a pair file (or of any ``.gif``)."""
    for suffix in (EXPECTED_SUFFIX, GENERATED_SUFFIX, ".gif"):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def gif_pairs_in(gif_dir: Path) -> list[tuple[Path, Path]]:
    """``(expected, generated)`` GIF pairs in ``gif_dir``, sorted by video stem."""
    gif_dir = Path(gif_dir)
    if not gif_dir.is_dir():
        return []
    pairs = [gif_pair_paths(gif_dir, gif_stem(e)) for e in sorted(gif_dir.glob(f"*{EXPECTED_SUFFIX}"))]
    return [(e, g) for e, g in pairs if g.is_file()]


# ---------------------------------------------------------------- readers

def read_selection(logs_dir: Path) -> dict | None:
    """The ``selected`` entry (exported epoch, phase, why) of ``<logs_dir>/summary.json``, or None."""
    try:
        selected = json.loads((Path(logs_dir) / SUMMARY_FILE).read_text()).get("selected")
    except (OSError, ValueError, AttributeError):
        return None
    return selected if isinstance(selected, dict) else None


def read_json_object(path: Path, what: str = "metrics") -> dict:
    """A JSON object file; one-line VfpError when missing or not an object."""
    path = Path(path)
    if not path.is_file():
        raise VfpError(f"{path}: not found; run the evaluate stage first (dvc repro evaluate)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VfpError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise VfpError(f"{path}: expected a JSON object of {what}")
    return data


def read_tsv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def tsv_curves(live_dir: Path) -> list[Path]:
    """dvclive's curve files under ``<live_dir>/plots/metrics/``, sorted."""
    return sorted((Path(live_dir) / "plots" / "metrics").rglob("*.tsv"))


def read_history(live_dir: Path, sections: tuple[str, ...] = ("train",)) -> list[dict] | None:
    """Per-epoch rows ``{"epoch": E, "loss": ..., "val_psnr_t1": ...}`` from a dvclive folder, or None.

    Only the curves under ``sections`` (``train``, ``val``); training scalars keep their names,
    the others get their section as a prefix (``val_psnr_t1``).
    """
    rows: dict[int, dict] = {}
    root = Path(live_dir) / "plots" / "metrics"
    for path in tsv_curves(live_dir):
        part = path.relative_to(root).parts[0]
        if part not in sections:
            continue
        key = path.stem if part == "train" else f"{part}_{path.stem}"
        for raw in read_tsv(path):
            try:
                step, value = int(float(raw["step"])), float(raw[path.stem])
            except (KeyError, TypeError, ValueError):
                continue
            rows.setdefault(step, {"epoch": step})[key] = value
    return [rows[s] for s in sorted(rows)] or None


def _number_row(raw: dict) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in raw.items():
        if k is None or v in (None, ""):
            continue
        try:
            num = float(v)
        except ValueError:
            continue
        row[k] = int(num) if k in ("epoch", "step", "iteration") and num.is_integer() else num
    return row


def read_loss_history(logs_dir: Path) -> list[dict] | None:
    """Per-epoch training losses: dvclive's curves in ``<logs_dir>`` (what training writes, see
    vfp.handlers.live), else ``<logs_dir>/train_epoch.csv`` (or a TSV / per-step file).

    Rows are ``{column: float}`` (``epoch``/``step`` as int); None when no log file exists.
    """
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
            rows = [row for row in map(_number_row, reader) if row]
        if rows:
            return rows
    return None


def _num(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_per_step_csv(path: Path) -> dict[str, dict[str, list[float]]]:
    """``metrics/per_step.csv`` -> ``{"model": {m: [per step]}, <baseline>: {m: [...]}, ...}`` (NaN for empty)."""
    path = Path(path)
    if not path.is_file():
        raise VfpError(f"{path}: not found; run the evaluate stage first (dvc repro evaluate)")
    with path.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r.get("step") or 0))
    if not rows:
        raise VfpError(f"{path}: no rows; run the evaluate stage again")
    columns = list(rows[0])
    bases = [b for b in keys.BASELINES if any(c.startswith(f"{b}_") for c in columns)]
    names = [c for c in columns if c not in ("step", keys.MODEL) and "_gain" not in c
             and not any(c.startswith(f"{b}_") for b in bases) and all(keys.of(b, c) in columns for b in bases)]
    out = {keys.MODEL: {m: [_num(r.get(m)) for r in rows] for m in names}}
    out.update({b: {m: [_num(r.get(keys.of(b, m))) for r in rows] for m in names} for b in bases})
    return out
