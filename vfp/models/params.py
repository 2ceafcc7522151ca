"""The model sections of the params: checked against the registry by the stages that build a model.

:func:`vfp.config.load_config` validates the settings every stage reads and keeps the model sections as
given, so the data stages never import a model. The model stages load with :func:`load_model_config`:
the ``plugins:`` modules imported, every model section built by its registered schema (defaults for
the absent ones), and the selected model built once to check its constructor keywords, the frame-size
rule and its section's own checks (e.g. a GAN's discriminator) before any work.
"""
from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, Mapping

from vfp.config import SETTINGS, Config, load_config, parse_config
from vfp.errors import ConfigError, VfpError
from vfp.models.base import predictor_from_config
from vfp.models.contract import frame_size_problem
from vfp.models.registry import get_spec, load_plugins, registered
from vfp.schema import build

__all__ = ["check_selected_model", "load_model_config", "parse_model_config", "resolve_models"]


def resolve_models(cfg: Config) -> Config:
    """``cfg`` with every registered model's section built (idempotent); one-line ConfigError otherwise."""
    if cfg.resolved:
        return cfg
    source = cfg.source
    try:
        load_plugins(cfg.plugins)
    except VfpError as err:
        raise ConfigError(f"{source}: {err}") from None
    names = registered()
    for key in cfg.models:
        if key not in names:
            raise ConfigError(f"{source}: unknown key {key}: neither a section ({', '.join(sorted(SETTINGS))}) "
                              f"nor a registered model ({', '.join(names)})")
    if cfg.model and cfg.model not in names:
        raise ConfigError(f"{source}: model must be a registered model ({', '.join(names)}), "
                          f"got {cfg.model!r}; a model of your own: plugins: [your.module]")
    built = {name: _build_section(name, cfg.models.get(name, {}), source) for name in names}
    cfg = dataclasses.replace(cfg, models=types.MappingProxyType(built))
    if cfg.model:
        check_selected_model(cfg)
    return cfg


def _build_section(name: str, raw: Mapping[str, Any], source: str) -> Any:
    section = build(get_spec(name).section, raw, name, source)
    net = section.net
    n_input = net.get("n_input") if isinstance(net, Mapping) else getattr(net, "n_input", None)
    if isinstance(n_input, int) and n_input < 1:  # the model contract, for every section
        raise ConfigError(f"{source}: {name}.net.n_input must be >= 1, got {n_input}")
    return section


def check_selected_model(cfg: Config) -> None:
    """Build the selected model once (cheap): constructor errors, the frame-size rule on the training sizes
    (``data.size``, ``train.crop``; evaluation pads any size to the stride), its section's ``check_model``;
    ConfigError naming the key."""
    name, section = cfg.model, cfg.model_section()
    try:
        model = predictor_from_config(cfg)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{cfg.source}: {name}.{'base' if 'base flow' in str(err) else 'net'}: {err}") from None
    stride = getattr(model, "stride", 1)
    sizes = [("data.size", cfg.data.size)] if cfg.data.size != "source" else []
    sizes += [("train.crop", (cfg.train.crop,) * 2)] if cfg.train.crop else []
    problems = [frame_size_problem(size, stride, key, name) for key, size in sizes]
    problem = next((p for p in problems if p), None) or section.check_model(name, model, cfg.data.size, cfg.train.crop)
    if problem:
        raise ConfigError(f"{cfg.source}: {problem}")


def parse_model_config(raw: Mapping[str, Any] | None, source: str = "params.yaml") -> Config:
    """:func:`vfp.config.parse_config` then :func:`resolve_models`."""
    return resolve_models(parse_config(raw, source))


def load_model_config(path: str | Path = "params.yaml") -> Config:
    """:func:`vfp.config.load_config` then :func:`resolve_models`."""
    return resolve_models(load_config(path))
