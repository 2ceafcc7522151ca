"""params.yaml -> frozen dataclasses, validated before any work starts.

Every error is one line naming the key, e.g.
``params.yaml: data.interval must be >= 1, got 0``.
Defaults live here (and, for model architectures, in the model constructors only).
"""
from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from vfp.errors import VfpError



class ConfigError(VfpError):
    """A bad value in params.yaml."""


class Params:
    """Base of params schemas (model sections, ``net``): frozen dataclasses that also read like a mapping
    (``dict(section.net)``). Ranges: :func:`bounded` fields; other rules: a ``validate()`` method raising
    ValueError("<key> must be ...") (the key is prefixed with the section's path)."""

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def items(self):
        return [(k, getattr(self, k)) for k in self.keys()]


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None) -> Any:
    """A dataclass field with a default and a range checked at load (``lr: float = bounded(1e-3, ge=0)``)."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    return field(default=default, metadata={"bounds": bounds})


_BOUND_TEXT = {"ge": (">=", lambda v, b: v >= b), "gt": (">", lambda v, b: v > b),
               "le": ("<=", lambda v, b: v <= b), "lt": ("<", lambda v, b: v < b)}


@dataclass(frozen=True)
class DataConfig:
    source: Literal["sample", "ucf101", "folder"] = "sample"
    root: str = "data/raw"
    folder: str = ""
    size: Literal["source"] | tuple[int, int] = (64, 64)  # source: each video at its own size (needs train.crop)
    interval: int = 2
    cache: str = "data/cache"
    decoder: Literal["auto", "decord", "pyav"] = "auto"


@dataclass(frozen=True)
class SampleConfig:
    seed: int = 0
    moving_classes: int = 6
    static_classes: int = 2
    groups: int = 6
    clips_per_group: int = 3
    frames: int = 48


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
    size: int = 32
    frames: int = 16
    mode: Literal["absolute", "quantile"] = "absolute"
    threshold: float = 1.0


@dataclass(frozen=True)
class SplitConfig:
    official: int = 1
    val_fraction: float = 0.2
    mode: Literal["auto", "group", "temporal"] = "auto"
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    gap: int = 0  # frames between temporal segments; 0: one clip span (4 context + evaluate.horizon frames)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch_size: int = 16
    clips_per_video: int = 8
    crop: int = 0
    stride: tuple[int, int] = (1, 1)  # each training clip takes every k * data.interval-th frame, k drawn in [a, b]
    num_workers: int = 2
    val_every: int = 1
    snapshot_every: int = 2
    snapshot_videos: int = 2
    n_saved: int = 2
    resume: Literal["auto", "never"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    compile: bool = False
    grad_clip: float = 1.0
    starts: Literal["all", "random"] = "all"  # all: every valid clip start; random: clips_per_video per video
    clips_per_epoch: int = 512  # starts: all -> at most this many clips per epoch (a new subset each epoch); 0: all
    augment_flip: bool = True  # horizontal flip, the same for every frame of a clip
    augment_reverse: bool = True  # play the clip backwards
    augment_scale: float = 1.0  # random crop of [augment_scale, 1] of the frame side, resized back; 1.0: off


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation settings; ``protocol`` fills every key of :data:`EVAL_PROTOCOLS` not given explicitly."""

    protocol: Literal["none", "mathieu"] = "none"
    size: Literal["train", "source"] | tuple[int, int] = "train"
    context: int = 4
    horizon: int = 4
    mask: Literal["difference", "flow"] = "difference"
    moving_threshold: float = 10.0
    flow_threshold: float = 1.0
    every: int = 1
    clips_per_video: int = 1
    skip_above_db: float = 0.0
    ssim: Literal["rgb", "luma"] = "rgb"
    batch_size: int = 16
    gifs: int = 4


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

    clips: int = 4
    scale: int = 2


@dataclass(frozen=True)
class Config:
    model: str = ""  # a registered model name (vfp.models); needed by train / evaluate
    seed: int = 0
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

    # model sections by name, schema from the registry; built from params.yaml, not a section itself
    models: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))

    def model_section(self, name: str | None = None) -> Any:
        """The params section of ``name`` (default: the selected model); its schema's defaults if absent."""
        from vfp.models.registry import get_spec

        from vfp.models.registry import registered

        name = name or self.model
        if not name:
            raise ConfigError(f"model: missing in the params; set it to a registered model: {', '.join(registered())}")
        return self.models[name] if name in self.models else get_spec(name).section()


# ---------------------------------------------------------------- generic typed loading

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against annotation ``tp``; return the (frozen) value or raise ConfigError."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return _build(tp, value, key, source)
    if origin in (typing.Union, types.UnionType):  # e.g. Literal["train", "source"] | tuple[int, int]
        for arm in typing.get_args(tp):
            try:
                return _coerce(value, arm, key, source)
            except ConfigError:
                pass
        choices = " or ".join(", ".join(map(str, typing.get_args(a))) if typing.get_origin(a) is Literal
                              else f"a list of {len(typing.get_args(a))} values" for a in typing.get_args(tp))
        raise ConfigError(f"{source}: {key} must be {choices}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin is collections.abc.Sequence or (origin is tuple and typing.get_args(tp)[-1:] == (Ellipsis,)):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        arg = typing.get_args(tp)[0]
        return tuple(_coerce(v, arg, f"{key}[{i}]", source) for i, v in enumerate(value))
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{source}: {key} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args)))
    if origin is collections.abc.Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return types.MappingProxyType(dict(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {_type_name(tp)} for {key}")  # a bug in this file, not in params


def _build(cls: type, raw: Mapping[str, Any], prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{source}: unknown key {where} (valid: {', '.join(sorted(names))})")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            where = f"{prefix}.{f.name}" if prefix else f.name
            values[f.name] = _coerce(raw[f.name], hints[f.name], where, source)
            _check_bounds(values[f.name], f.metadata.get("bounds", {}), where, source)
    obj = cls(**values)
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ValueError as err:
            raise ConfigError(f"{source}: {prefix + '.' if prefix else ''}{err}") from None
    return obj


def _check_bounds(value: Any, bounds: Mapping[str, float], key: str, source: str) -> None:
    for kind, limit in bounds.items():
        text, ok = _BOUND_TEXT[kind]
        if not ok(value, limit):
            raise ConfigError(f"{source}: {key} must be {text} {limit}, got {value}")


# ---------------------------------------------------------------- semantic checks

def _require(ok: bool, source: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{source}: {message}")


def _check_ranges(cfg: Config, source: str) -> None:
    d, t, e, m = cfg.data, cfg.train, cfg.evaluate, cfg.motion
    _require(d.interval >= 1, source, f"data.interval must be >= 1, got {d.interval}")
    _require(d.size == "source" or min(d.size) >= 8, source,
             f"data.size must be source or [H, W] with both >= 8, got {d.size}")
    _require(d.source != "folder" or bool(d.folder), source,
             "data.folder must name a <Class>/<video> folder when data.source is folder")
    s = cfg.sample
    _require(s.moving_classes >= 1, source, f"sample.moving_classes must be >= 1, got {s.moving_classes}")
    _require(s.static_classes >= 0, source, f"sample.static_classes must be >= 0, got {s.static_classes}")
    _require(s.groups >= 6, source, f"sample.groups must be >= 6 (3 official splits of 2 test groups), got {s.groups}")
    _require(s.clips_per_group >= 1, source, f"sample.clips_per_group must be >= 1, got {s.clips_per_group}")
    _require(s.frames >= 8, source, f"sample.frames must be >= 8, got {s.frames}")
    _require(m.size >= 4, source, f"motion.size must be >= 4, got {m.size}")
    _require(m.frames >= 2, source, f"motion.frames must be >= 2, got {m.frames}")
    if m.mode == "quantile":
        _require(0 <= m.threshold < 1, source, f"motion.threshold must be in [0, 1) for mode quantile, got {m.threshold}")
    else:
        _require(m.threshold >= 0, source, f"motion.threshold must be >= 0, got {m.threshold}")
    for key in ("clips", "scale"):
        _require(getattr(cfg.compare, key) >= 1, source, f"compare.{key} must be >= 1, got {getattr(cfg.compare, key)}")
    _require(cfg.split.official in (1, 2, 3), source, f"split.official must be 1, 2 or 3, got {cfg.split.official}")
    _require(0 <= cfg.split.val_fraction < 1, source,
             f"split.val_fraction must be in [0, 1), got {cfg.split.val_fraction}")
    for key in ("epochs", "batch_size", "clips_per_video", "val_every", "snapshot_every", "n_saved"):
        value = getattr(t, key)
        _require(value >= 1, source, f"train.{key} must be >= 1, got {value}")
    for key in ("num_workers", "snapshot_videos", "crop"):
        value = getattr(t, key)
        _require(value >= 0, source, f"train.{key} must be >= 0, got {value}")
    _require(t.grad_clip >= 0, source, f"train.grad_clip must be >= 0, got {t.grad_clip}")
    _check_frames(d, t, source)
    _require(e.horizon >= 1, source, f"evaluate.horizon must be >= 1, got {e.horizon}")
    _require(e.batch_size >= 1, source, f"evaluate.batch_size must be >= 1, got {e.batch_size}")
    _require(e.gifs >= 0, source, f"evaluate.gifs must be >= 0, got {e.gifs}")
    _require(e.context >= 2, source, f"evaluate.context must be >= 2 (the flow baseline needs 2 frames), got {e.context}")
    _require(e.every >= 1, source, f"evaluate.every must be >= 1, got {e.every}")
    _require(e.clips_per_video >= 1, source, f"evaluate.clips_per_video must be >= 1, got {e.clips_per_video}")
    _require(e.moving_threshold >= 0, source, f"evaluate.moving_threshold must be >= 0, got {e.moving_threshold}")
    _require(e.flow_threshold >= 0, source, f"evaluate.flow_threshold must be >= 0, got {e.flow_threshold}")
    _require(e.skip_above_db >= 0, source, f"evaluate.skip_above_db must be >= 0 (0 keeps every frame), got {e.skip_above_db}")
    _require(isinstance(e.size, str) or min(e.size) >= 16, source,
             f"evaluate.size must be train, source or [H, W] with both >= 16, got {list(e.size)}")
    if cfg.model:
        _check_selected_model(cfg, source)


def _check_frames(d: DataConfig, t: TrainConfig, source: str) -> None:
    """data.size / train.crop / train.stride agree (one line naming the key otherwise)."""
    if d.size == "source":
        _require(t.crop >= 8, source, f"data.size: source needs train.crop >= 8 (training takes crop x crop windows "
                                      f"of each video at its own size), got {t.crop}")
    else:
        _require(t.crop <= min(d.size), source, f"train.crop must be <= data.size {list(d.size)}, got {t.crop}")
    _require(1 <= t.stride[0] <= t.stride[1], source,
             f"train.stride must be [a, b] with 1 <= a <= b (every k * data.interval-th frame, k in [a, b]), "
             f"got {list(t.stride)}")


def decode_size(size: str | tuple[int, int]) -> tuple[int, int] | None:
    """``data.size`` as the size frames are decoded at: ``(H, W)``, or None (``source``: each video's own)."""
    return None if size == "source" else (int(size[0]), int(size[1]))


def _check_selected_model(cfg: Config, source: str) -> None:
    """Build the selected model once (cheap): constructor errors, the stride rule, the recipe's checks."""
    from vfp.models.registry import get_spec
    from vfp.recipes import as_kwargs, get_recipe

    name, section = cfg.model, cfg.model_section()
    try:
        model = get_spec(name).cls(**as_kwargs(section.net))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{source}: {name}.net: {err}") from None
    stride = getattr(model, "stride", 1)
    data_size = () if cfg.data.size == "source" else cfg.data.size
    for label, sizes in (("data.size", data_size), ("train.crop", (cfg.train.crop,) * 2 if cfg.train.crop else ())):
        for side in sizes:
            _require(side % stride == 0, source,
                     f"{label} {list(sizes)} must be divisible by {name}'s stride {stride}")
    problem = get_recipe(get_spec(name).recipe).check(name, section, model, cfg)
    _require(problem is None, source, str(problem))


def _split_sections(raw: Mapping[str, Any], source: str) -> tuple[dict, dict]:
    """params mapping -> (settings for :class:`Config`, {registered model name: its raw section})."""
    from vfp.models.registry import load_plugins, registered

    plugins = _coerce(raw.get("plugins", ()), tuple[str, ...], "plugins", source)
    try:
        load_plugins(plugins)
    except VfpError as err:
        raise ConfigError(f"{source}: {err}") from None
    models = set(registered())
    known = {f.name for f in dataclasses.fields(Config)} - {"models"}
    for key in raw:
        if key not in known and key not in models:
            raise ConfigError(f"{source}: unknown key {key}: neither a section ({', '.join(sorted(known))}) "
                              f"nor a registered model ({', '.join(sorted(models))})")
    if "model" in raw and raw["model"] not in models:
        raise ConfigError(f"{source}: model must be a registered model ({', '.join(sorted(models))}), "
                          f"got {raw['model']!r}; a model of your own: plugins: [your.module]")
    return ({k: v for k, v in raw.items() if k in known}, {k: v for k, v in raw.items() if k in models})


def _build_sections(sections: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    from vfp.models.registry import get_spec

    built = {name: _build(get_spec(name).section, value if value is not None else {}, name, source)
             for name, value in sections.items()}
    for name, section in built.items():  # the model contract: n_input >= 1 (checked for every section)
        n_input = getattr(section.net, "n_input", None) if not isinstance(section.net, Mapping) \
            else section.net.get("n_input")
        _require(not isinstance(n_input, int) or n_input >= 1, source, f"{name}.net.n_input must be >= 1, got {n_input}")
    return types.MappingProxyType(built)


# ---------------------------------------------------------------- public API

def parse_config(raw: Mapping[str, Any] | None, source: str = "params.yaml") -> Config:
    """Validate a params mapping (as read from YAML) into a frozen Config."""
    settings, sections = _split_sections(raw or {}, source)
    cfg = _build(Config, _apply_eval_protocol(settings), "", source)
    cfg = dataclasses.replace(cfg, models=_build_sections(sections, source))
    _check_ranges(cfg, source)
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
        out = {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name != "models"}
        return {**out, **{k: to_dict(v) for k, v in cfg.models.items()}}
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    return cfg
