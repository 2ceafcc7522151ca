"""params.yaml -> frozen dataclasses, validated before any work starts.

Every error is one line naming the key, e.g. ``params.yaml: data.interval must be >= 1, got 0``.
Ranges are declared once, on the fields (:func:`vfp.schema.bounded`); rules between fields are the
``validate()`` methods and :func:`_check_across`. Defaults live here (and, for model architectures,
in the model constructors only).
"""
from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from vfp.errors import ConfigError
from vfp.schema import Params, bounded, build

__all__ = ["Config", "ConfigError", "EVAL_PROTOCOLS", "Params", "bounded", "decode_size", "load_config", "parse_config",
           "to_dict"]


@dataclass(frozen=True)
class DataConfig:
    source: Literal["sample", "ucf101", "folder"] = "sample"
    root: str = "data/raw"
    folder: str = ""
    # source: each video at its own size (needs train.crop)
    size: Literal["source"] | tuple[int, int] = bounded((64, 64), ge=8)
    interval: int = bounded(2, ge=1)
    cache: str = "data/cache"
    decoder: Literal["auto", "decord", "pyav"] = "auto"

    def validate(self) -> None:
        if self.source == "folder" and not self.folder:
            raise ValueError("folder must name a <Class>/<video> folder when data.source is folder")


@dataclass(frozen=True)
class SampleConfig:
    seed: int = bounded(0, ge=0)
    moving_classes: int = bounded(6, ge=1)
    static_classes: int = bounded(2, ge=0)
    groups: int = bounded(6, ge=6, note="(3 official splits of 2 test groups)")
    clips_per_group: int = bounded(3, ge=1)
    frames: int = bounded(48, ge=8)


@dataclass(frozen=True)
class Ucf101Config:
    rar_url: str = "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar"
    rar_sha256: str = "ca8dfadb4c891cb11316f94d52b6b0ac2a11994e67a0cae227180cd160bd8e55"
    rar_size: int = 0
    splits_url: str = "https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip"
    splits_sha256: str = "5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27"
    splits_size: int = 113943
    download_dir: str = "data/download"
    insecure_tls: bool = False


@dataclass(frozen=True)
class MotionConfig:
    size: int = bounded(32, ge=4)
    frames: int = bounded(16, ge=2)
    mode: Literal["absolute", "quantile"] = "absolute"
    threshold: float = bounded(1.0, ge=0)

    def validate(self) -> None:
        if self.mode == "quantile" and not self.threshold < 1:
            raise ValueError(f"threshold must be in [0, 1) for mode quantile, got {self.threshold}")


@dataclass(frozen=True)
class SplitConfig:
    official: int = 1
    val_fraction: float = bounded(0.2, ge=0, lt=1)
    mode: Literal["auto", "group", "temporal"] = "auto"
    fractions: tuple[float, float, float] = bounded((0.7, 0.1, 0.2), ge=0, le=1)
    gap: int = 0  # frames between temporal segments; 0: one clip span (4 context + evaluate.horizon frames)

    def validate(self) -> None:
        if self.official not in (1, 2, 3):
            raise ValueError(f"official must be 1, 2 or 3, got {self.official}")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = bounded(8, ge=1)
    batch_size: int = bounded(16, ge=1)
    clips_per_video: int = bounded(8, ge=1)
    crop: int = bounded(0, ge=0)
    base_margin: int = bounded(0, ge=0)  # data.size source: border around each crop that only the flow base reads
    stride: tuple[int, int] = (1, 1)  # each training clip takes every k * data.interval-th frame, k drawn in [a, b]
    num_workers: int = bounded(2, ge=0)
    val_every: int = bounded(1, ge=1)
    val_horizon: int = bounded(4, ge=1)  # steps a validation clip predicts; never evaluate.horizon
    snapshot_every: int = bounded(2, ge=1)
    snapshot_videos: int = bounded(2, ge=0)
    n_saved: int = bounded(2, ge=1)
    resume: Literal["auto", "never"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    compile: bool = False
    grad_clip: float = bounded(1.0, ge=0)
    starts: Literal["all", "random"] = "all"  # all: every valid clip start; random: clips_per_video per video
    clips_per_epoch: int = bounded(512, ge=0)  # starts: all -> at most this many clips an epoch; 0: all
    augment_flip: bool = True  # horizontal flip, the same for every frame of a clip
    augment_reverse: bool = True  # play the clip backwards
    augment_scale: float = bounded(1.0, gt=0, le=1)  # random crop of [scale, 1] of the side, resized back; 1: off

    def validate(self) -> None:
        if not 1 <= self.stride[0] <= self.stride[1]:
            raise ValueError(f"stride must be [a, b] with 1 <= a <= b (every k * data.interval-th frame, k in "
                             f"[a, b]), got {list(self.stride)}")


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation settings; ``protocol`` fills every key of :data:`EVAL_PROTOCOLS` not given explicitly."""

    protocol: Literal["none", "mathieu"] = "none"
    size: Literal["train", "source"] | tuple[int, int] = "train"
    context: int = bounded(4, ge=2, note="(the flow baseline needs 2 frames)")
    horizon: int = bounded(4, ge=1)
    mask: Literal["difference", "flow"] = "difference"
    moving_threshold: float = bounded(10.0, ge=0)
    flow_threshold: float = bounded(1.0, ge=0)
    every: int = bounded(1, ge=1)
    clips_per_video: int = bounded(1, ge=1)
    skip_above_db: float = bounded(0.0, ge=0, note="(0 keeps every frame)")
    ssim: Literal["rgb", "luma"] = "rgb"
    batch_size: int = bounded(16, ge=1)
    gifs: int = bounded(4, ge=0)

    def validate(self) -> None:
        if not isinstance(self.size, str) and min(self.size) < 16:
            raise ValueError(f"size must be train, source or [H, W] with both >= 16, got {list(self.size)}")


# Mathieu, Couprie & LeCun (ICLR 2016), UCF-101 test protocol: full frames, 4 context, 2 predicted,
# optical-flow moving area, every 10th test video, frames scored >= 50 dB left out of moving means.
EVAL_PROTOCOLS: dict[str, dict[str, Any]] = {
    "none": {},
    "mathieu": {"size": "source", "context": 4, "horizon": 2, "mask": "flow", "every": 10, "skip_above_db": 50.0},
}


def _apply_eval_protocol(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``evaluate:`` with null keys dropped and the protocol's values under the keys given explicitly."""
    ev = raw.get("evaluate")
    if not isinstance(ev, Mapping):
        return raw
    given = {k: v for k, v in ev.items() if v is not None}
    preset = EVAL_PROTOCOLS.get(given.get("protocol", "none"), {}) if isinstance(given.get("protocol"), str) else {}
    return {**raw, "evaluate": {**preset, **given}}


@dataclass(frozen=True)
class FlowConfig:
    """Classical optical flow of the ``flow`` baseline and of every model's ``base: flow`` (vfp.flow)."""

    method: Literal["farneback", "dis"] = "dis"
    preset: Literal["ultrafast", "fast", "medium"] = "medium"  # DIS only


@dataclass(frozen=True)
class CompareConfig:
    """``vfp compare``: how many test clips the grid shows, and their upscale factor."""

    clips: int = bounded(4, ge=1)
    scale: int = bounded(2, ge=1)


@dataclass(frozen=True)
class Config:
    model: str = ""  # a registered model name (vfp.models); needed by train / evaluate
    seed: int = bounded(0, ge=0)
    plugins: tuple[str, ...] = ()  # modules imported before validation; they register models
    data: DataConfig = DataConfig()
    sample: SampleConfig = SampleConfig()
    ucf101: Ucf101Config = Ucf101Config()
    motion: MotionConfig = MotionConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    flow: FlowConfig = FlowConfig()
    compare: CompareConfig = CompareConfig()

    # not params keys: the model sections by name (as given, then built by vfp.models.params.resolve_models
    # with their registered schemas) and the file the params came from (for messages)
    models: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))
    source: str = field(default="params.yaml", compare=False, repr=False)

    @property
    def resolved(self) -> bool:
        """True once :func:`vfp.models.params.resolve_models` built the model sections."""
        return any(not isinstance(v, Mapping) for v in self.models.values())

    def model_section(self, name: str | None = None) -> Any:
        """The built params section of ``name`` (default: the selected model)."""
        name = name or self.model
        if not self.resolved:
            raise ConfigError(f"{self.source}: model sections not checked yet (load the params with "
                              f"vfp.models.params.load_model_config)")
        if not name:
            raise ConfigError(f"{self.source}: model: missing in the params; set it to a registered model: "
                              f"{', '.join(sorted(self.models))}")
        if name not in self.models:
            raise ConfigError(f"{self.source}: no section for model {name!r}; "
                              f"registered: {', '.join(sorted(self.models))}")
        return self.models[name]


SETTINGS = tuple(f.name for f in dataclasses.fields(Config) if f.name not in ("models", "source"))


def _check_across(cfg: Config, source: str) -> None:
    """Rules between sections (ranges within one are on the fields), checked by every stage before it touches
    the workspace: data.size and train.crop agree; fp16 is not asked on the CPU; data.folder lies apart from
    data.root; data.cache is not a file."""
    d, t = cfg.data, cfg.train
    if d.size == "source" and t.crop < 8:
        raise ConfigError(f"{source}: data.size: source needs train.crop >= 8 (training takes crop x crop windows "
                          f"of each video at its own size), got {t.crop}")
    if d.size != "source" and t.crop > min(d.size):
        raise ConfigError(f"{source}: train.crop must be <= data.size {list(d.size)}, got {t.crop} "
                          "(train.crop: 0 trains on whole frames)")
    if t.amp == "fp16" and t.device == "cpu":
        raise ConfigError(f"{source}: train.amp fp16 needs a CUDA GPU and train.device is cpu; set train.amp: "
                          "bf16 (mixed precision on CPU) or none")
    if d.source == "folder" and d.folder and _overlap(Path(d.folder), Path(d.root)):
        raise ConfigError(f"{source}: data.folder {d.folder} and data.root {d.root} overlap (the same folder, or "
                          "one inside the other): the download stage replaces data.root whole; point data.root at "
                          "a separate folder (e.g. data/raw)")
    if d.cache and Path(d.cache).exists() and not Path(d.cache).is_dir():
        raise ConfigError(f"{source}: data.cache {d.cache} is a file, not a folder; point it at a folder "
                          "(e.g. data/cache) or set it to \"\" to decode without a cache")


def _overlap(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def decode_size(size: str | tuple[int, int]) -> tuple[int, int] | None:
    """``data.size`` as the size frames are decoded at: ``(H, W)``, or None (``source``: each video's own)."""
    return None if size == "source" else (int(size[0]), int(size[1]))


def _split_sections(raw: Mapping[str, Any], source: str) -> tuple[dict, dict]:
    """params mapping -> (settings for :class:`Config`, {other key: its mapping}: model sections, checked
    against the registry by :func:`vfp.models.params.resolve_models`)."""
    known = set(SETTINGS)
    sections = {k: v for k, v in raw.items() if k not in known}
    for key, value in sections.items():
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{source}: unknown key {key}: neither a section ({', '.join(sorted(known))}) "
                              f"nor a model section (a mapping), got {value!r}")
    settings = {k: v for k, v in raw.items() if k in known}
    return settings, {k: types.MappingProxyType(dict(v or {})) for k, v in sections.items()}


# ---------------------------------------------------------------- public API

def parse_config(raw: Mapping[str, Any] | None, source: str = "params.yaml") -> Config:
    """Validate a params mapping (as read from YAML) into a frozen Config; model sections are kept as given
    (:func:`vfp.models.params.resolve_models` checks them: the model stages do, the data stages need not)."""
    settings, sections = _split_sections(raw or {}, source)
    cfg = build(Config, _apply_eval_protocol(settings), "", source)
    cfg = dataclasses.replace(cfg, models=types.MappingProxyType(sections), source=source)
    _check_across(cfg, source)
    return cfg


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate ``path``; raises ConfigError with a one-line message."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run from the project folder or pass --params") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(err, 'problem', err)}") from None
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(raw).__name__}")
    return parse_config(raw, str(path))


def to_dict(cfg: Any) -> Any:
    """Plain-data view of a config (for hashing and for saving beside checkpoints); a Config gives
    the params.yaml shape again (model sections at the top level), so ``parse_config(to_dict(cfg))`` works."""
    if isinstance(cfg, Config):
        out = {name: to_dict(getattr(cfg, name)) for name in SETTINGS}
        return {**out, **{k: to_dict(v) for k, v in cfg.models.items()}}
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    return cfg
