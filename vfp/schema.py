"""Typed params: a YAML mapping -> frozen dataclasses, every bad value a one-line :class:`ConfigError`.

A schema is a frozen dataclass. Fields may carry a range (:func:`bounded`); a ``validate()`` method
raising ``ValueError("<key> must be ...")`` adds cross-field rules. :class:`Params` makes a schema
read like a mapping too (``dict(section.net)``), which is what model constructors receive.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import types
import typing
from typing import Any, Literal, Mapping

from vfp.errors import ConfigError

__all__ = ["ConfigError", "Params", "as_kwargs", "bounded", "build", "coerce"]


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
            lt: float | None = None, note: str = "") -> Any:
    """A dataclass field with a default and a range checked at load (``lr: float = bounded(1e-3, ge=0)``).

    ``ge=0, lt=1`` reads ``in [0, 1)`` in the error; ``note`` is appended to it (``(0 keeps every frame)``).
    Applies to a number or to each value of a list (``size: tuple[int, int] = bounded((64, 64), ge=8)``).
    """
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    return dataclasses.field(default=default, metadata={"bounds": bounds, "note": note})


_TESTS = {"ge": (">=", lambda v, b: v >= b), "gt": (">", lambda v, b: v > b),
          "le": ("<=", lambda v, b: v <= b), "lt": ("<", lambda v, b: v < b)}


def _range_text(bounds: Mapping[str, float]) -> str:
    """``>= 1``; two sides as an interval: ``in [0, 1)``."""
    low = [(k, v) for k, v in bounds.items() if k in ("ge", "gt")]
    high = [(k, v) for k, v in bounds.items() if k in ("le", "lt")]
    if low and high:
        (lk, lv), (hk, hv) = low[0], high[0]
        return f"in {'[' if lk == 'ge' else '('}{lv}, {hv}{']' if hk == 'le' else ')'}"
    return " and ".join(f"{_TESTS[k][0]} {v}" for k, v in bounds.items())


def check_bounds(value: Any, field: dataclasses.Field, key: str, source: str) -> None:
    """ConfigError when ``value`` (or one of its items) lies outside ``field``'s :func:`bounded` range."""
    bounds = field.metadata.get("bounds", {})
    values = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return  # e.g. the "train" arm of ``Literal["train"] | tuple[int, int]``
    if any(not _TESTS[kind][1](v, limit) for v in values for kind, limit in bounds.items()):
        shown = list(value) if isinstance(value, tuple) else value
        each = " on each side" if isinstance(value, tuple) else ""
        note = f" {field.metadata['note']}" if field.metadata.get("note") else ""
        raise ConfigError(f"{source}: {key} must be {_range_text(bounds)}{each}{note}, got {shown}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _union(value: Any, tp: Any, key: str, source: str) -> Any:
    for arm in typing.get_args(tp):
        try:
            return coerce(value, arm, key, source)
        except ConfigError:
            pass
    choices = " or ".join(", ".join(map(str, typing.get_args(a))) if typing.get_origin(a) is Literal
                          else f"a list of {len(typing.get_args(a))} values" for a in typing.get_args(tp))
    raise ConfigError(f"{source}: {key} must be {choices}, got {value!r}")


def _sequence(value: Any, tp: Any, key: str, source: str) -> tuple:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is collections.abc.Sequence or args[-1:] == (Ellipsis,):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return tuple(coerce(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value))
    if not isinstance(value, (list, tuple)) or len(value) != len(args):
        raise ConfigError(f"{source}: {key} must be a list of {len(args)} values, got {value!r}")
    return tuple(coerce(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args)))


_SCALARS = {  # type -> (accepts, wording)
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against annotation ``tp``; return the (frozen) value or raise ConfigError."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) or origin is collections.abc.Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return build(tp, value, key, source) if dataclasses.is_dataclass(tp) else types.MappingProxyType(dict(value))
    if origin in (typing.Union, types.UnionType):  # e.g. Literal["train", "source"] | tuple[int, int]
        return _union(value, tp, key, source)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin in (tuple, collections.abc.Sequence):
        return _sequence(value, tp, key, source)
    if tp in _SCALARS:
        accepts, wording = _SCALARS[tp]
        if not accepts(value):
            raise ConfigError(f"{source}: {key} must be {wording}, got {value!r}")
        if tp is float and not math.isfinite(value):
            raise ConfigError(f"{source}: {key} must be a finite number, got {value!r}")
        return float(value) if tp is float else value
    raise TypeError(f"unsupported annotation {_type_name(tp)} for {key}")  # a bug in a schema, not in params


def build(cls: type, raw: Mapping[str, Any], prefix: str, source: str) -> Any:
    """``raw`` -> a ``cls`` instance: unknown keys refused, every given value coerced and range-checked,
    then ``validate()`` (when ``cls`` has one); ``prefix`` is the section's path in messages."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in raw:
        if key not in fields:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{source}: unknown key {where} (valid: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        if name in raw:
            where = f"{prefix}.{name}" if prefix else name
            values[name] = coerce(raw[name], hints[name], where, source)
            check_bounds(values[name], f, where, source)
    obj = cls(**values)
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ValueError as err:
            raise ConfigError(f"{source}: {prefix + '.' if prefix else ''}{err}") from None
    return obj


def as_kwargs(net: Any) -> dict[str, Any]:
    """A ``net`` value (dataclass or mapping) -> plain constructor keyword arguments (lists, not tuples)."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v

    if isinstance(net, Mapping):
        return {k: plain(v) for k, v in net.items()}
    return {f.name: plain(getattr(net, f.name)) for f in dataclasses.fields(net)}
