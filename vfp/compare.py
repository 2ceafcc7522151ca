"""``vfp compare``: every experiment of the repo side by side in ``reports/compare/index.html``.

Experiments come from DVC itself (``Repo.experiments.show()``, what ``dvc exp show`` prints): the
workspace, the baseline commit and every ``dvc exp run`` result. A state whose params, metrics
and model file are identical to another one (e.g. the workspace right after ``dvc exp run``) is
one row, named after both. For each experiment the page shows the params that differ between
experiments, the test metrics per horizon step beside copy-last (and the flow baseline's
``flow_*`` keys when present), and the last training metrics dvclive logged. Then, for the same
``compare.clips`` test clips, a grid with one column per method: context frames, truth,
copy-last, each experiment's model. Each model file is read from DVC at the experiment's
revision (``dvc.api.open``), never retrained; an experiment without one gets a row saying so.
"""
from __future__ import annotations

import hashlib
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from vfp.compare_page import write_page
from vfp.config import Config, decode_size
from vfp.data.loaders import test_dataset
from vfp.data.splits import read_split
from vfp.data.video import frame_size
from vfp.errors import VfpError
from vfp.fileio import check_writable
from vfp.modelio import load_trained
from vfp.models.contract import predict_any_size
from vfp.runs import METRICS_FILE, RunLayout
from vfp.testset import MIN_CONTEXT

__all__ = ["Experiment", "list_experiments", "merge_twins", "differing_params", "predict_clips", "compare"]

WORKSPACE = "workspace"
TEST_METRICS = METRICS_FILE.as_posix()


@dataclass
class Experiment:
    """One row of the page. ``rev`` is None for the workspace; ``model_bytes`` None when missing."""

    name: str
    rev: str | None
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    train_metrics: dict[str, Any] = field(default_factory=dict)
    model_bytes: bytes | None = None
    note: str = ""

    @property
    def model(self) -> str:
        return str(self.params.get("model", "?"))

    @property
    def layout(self) -> RunLayout:
        return RunLayout.for_model(self.model)

    @property
    def model_path(self) -> str:
        return self.layout.model_file.as_posix()


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _file_data(section: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    entry = (section or {}).get(path) or {}
    return dict(entry.get("data") or {})


def _states(root: Path) -> Iterator[tuple[str, str | None, dict | None, str]]:
    """``(name, rev, data, note)`` for the workspace, each baseline and each experiment, in dvc's order."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except NotDvcRepoError:
        raise VfpError(f"{root}: not a DVC repository; run vfp compare in the project folder") from None
    try:
        states = [s.dumpd() for s in repo.experiments.show()]
    finally:
        repo.close()
    for state in states:
        rev = state.get("rev")
        name = WORKSPACE if rev == WORKSPACE else (state.get("name") or rev[:7])
        yield name, None if rev == WORKSPACE else rev, state.get("data"), ""
        for group in state.get("experiments") or []:
            for exp in (group.get("revs") or [])[:1]:
                exp_state = ((group.get("executor") or {}).get("state")) or ""
                note = "" if exp.get("data") else f"no results ({exp_state or 'not run'})"
                yield group.get("name") or exp.get("name") or exp["rev"][:7], exp["rev"], exp.get("data"), note


def read_model_bytes(root: Path, rev: str | None, path: str) -> bytes | None:
    """The model file at ``rev`` through DVC (the workspace file when ``rev`` is None); None if missing."""
    if rev is None:
        file = Path(root) / path
        return file.read_bytes() if file.is_file() else None
    import dvc.api

    try:
        with dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as handle:
            return handle.read()
    except Exception:  # noqa: BLE001 - not in the cache, not an output at that revision, ...
        return None


def list_experiments(root: Path) -> list[Experiment]:
    """Every experiment state DVC knows, with its params, metrics and model file (or a note)."""
    exps = []
    for name, rev, data, note in _states(root):
        data = data or {}
        params = flatten(_file_data(data.get("params"), "params.yaml"))
        exp = Experiment(name=name, rev=rev, params=params, note=note,
                         metrics=_file_data(data.get("metrics"), TEST_METRICS))
        exp.train_metrics = flatten(_file_data(data.get("metrics"), exp.layout.train_metrics.as_posix()))
        if not note:
            exp.model_bytes = read_model_bytes(root, rev, exp.model_path)
            if exp.model_bytes is None:
                exp.note = f"model file {exp.model_path} is missing at this revision (not in the DVC cache?)"
        exps.append(exp)
    return exps


def _own_params(exp: Experiment) -> dict[str, Any]:
    """The params that define the experiment (``compare.*`` only shapes this page)."""
    return {k: v for k, v in exp.params.items() if not k.startswith("compare.")}


def _key(exp: Experiment) -> str:
    digest = hashlib.sha256(exp.model_bytes).hexdigest() if exp.model_bytes else ""
    return json.dumps([_own_params(exp), exp.metrics, digest], sort_keys=True, default=str)


def merge_twins(exps: list[Experiment]) -> list[Experiment]:
    """One row per distinct state (same params, metrics and model file): the twins' names are joined,
    e.g. the workspace right after ``dvc exp run -n other`` and ``other`` give ``other (= workspace)``."""
    kept: dict[str, Experiment] = {}
    for exp in exps:
        key = _key(exp)
        twin = kept.get(key)
        if twin is None:
            kept[key] = exp
        elif twin.name == WORKSPACE:
            exp.name = f"{exp.name} (= {WORKSPACE})"
            kept[key] = exp
        else:
            twin.name = f"{twin.name} (= {exp.name})"
    return list(kept.values())


def differing_params(exps: list[Experiment]) -> list[str]:
    """Param keys whose value is not the same in every experiment (``compare.*`` left out)."""
    keys = sorted({k for e in exps for k in _own_params(e)})
    return [k for k in keys if len({json.dumps(e.params.get(k), sort_keys=True) for e in exps}) > 1]


def _load(model_bytes: bytes):
    """``(model, meta)`` from a model file's bytes (through a temp file for ``load_trained``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        path.write_bytes(model_bytes)
        _, model = load_trained(path)  # a one-line VfpError for anything but a vfp model file
    meta = torch.load(io.BytesIO(model_bytes), map_location="cpu", weights_only=True)
    return model.eval(), {k: meta.get(k) for k in ("size", "interval")}


@torch.no_grad()
def predict_clips(exp: Experiment, clips: list[torch.Tensor], n_ctx: int, horizon: int,
                  size: tuple[int, int], interval: int) -> list[torch.Tensor] | str:
    """The experiment's predictions ``[horizon, C, H, W]`` per clip, or a one-line reason why none."""
    if exp.model_bytes is None:
        return exp.note or "no model file"
    try:
        model, meta = _load(exp.model_bytes)
    except VfpError as err:
        return str(err)
    stored = meta["size"] if meta["size"] != "source" else None  # source: runs at any size
    if stored and tuple(stored) != tuple(size) or meta["interval"] and meta["interval"] != interval:
        return f"trained at size {meta['size']}, interval {meta['interval']}: not these clips"
    n_input = int(model.n_input)
    if n_input > n_ctx:
        return f"needs {n_input} context frames, the clips have {n_ctx}"
    return [predict_any_size(model, clip[None, n_ctx - n_input:n_ctx].float(), horizon)[0].clamp(-1, 1)
            for clip in clips]


def test_clips(cfg: Config, split_dir: Path, k: int, n_ctx: int, horizon: int) -> list[tuple[str, torch.Tensor]]:
    """``k`` test clips spread over the test list: ``(video name, frames [n_ctx + horizon, C, H, W])``."""
    videos = read_split(Path(split_dir), "test")
    cache = Path(cfg.data.cache) if cfg.data.cache else None
    size = decode_size(cfg.data.size) or (frame_size(videos[0].path) if videos else None)
    dataset = test_dataset(videos, n_frames=n_ctx + horizon, interval=cfg.data.interval, size=size,
                           clips_per_video=1, cache_dir=cache, decoder=cfg.data.decoder, unreadable="replace")
    if len(dataset) == 0:
        raise VfpError(f"{Path(split_dir) / 'test.txt'}: no test video is long enough for {n_ctx + horizon} "
                       f"frames every {cfg.data.interval}")
    n = min(k, len(dataset))
    picks = sorted({round(i * (len(dataset) - 1) / max(1, n - 1)) for i in range(n)})
    items = [dataset[i] for i in picks]
    return [(Path(str(it["video"])).stem, it["frames"]) for it in items]


def compare(cfg: Config, *, root: Path = Path("."), split_dir: Path = Path("data/split"),
            out_dir: Path = Path("reports/compare")) -> Path:
    """Write ``out_dir/index.html`` (+ images) comparing every experiment; return its path."""
    check_writable(Path(out_dir))
    exps = merge_twins(list_experiments(Path(root)))
    n_ctx = max(int(cfg.evaluate.context), MIN_CONTEXT)
    horizon = cfg.evaluate.horizon
    clips = test_clips(cfg, Path(split_dir), cfg.compare.clips, n_ctx, horizon)
    frames = [c for _, c in clips]
    size = tuple(frames[0].shape[-2:]) if frames else decode_size(cfg.data.size)
    preds = {id(e): predict_clips(e, frames, n_ctx, horizon, size, cfg.data.interval) for e in exps}
    return write_page(Path(out_dir), exps, differing_params(exps), clips, preds, n_ctx=n_ctx, horizon=horizon,
                      scale=cfg.compare.scale)
