"""The generic typed build: a plain mapping (from YAML) -> a frozen dataclass.

Types come from the dataclass annotations; every error is one line naming the
dotted field path. The dataclasses check their values in ``__post_init__``
with :func:`fail`, which the build prefixes with the path of the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, TypeVar

from harness.errors import ConfigError

INT_LIMIT = 2**53
# No number of a config means anything past this (sizes in GB, times in s, ms,
# us or ns, rates per s): a bound before anything overflows (a float's inf, int64).
MAGNITUDE_LIMIT = 1e15

T = TypeVar("T")


def fail(path: str, msg: str) -> typing.NoReturn:
    """Raise the one-line error of a field (the build adds its parents' path)."""
    raise ConfigError(f"{path}: {msg}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if float in args:  # `int | float`: a number
            args = tuple(a for a in args if a is not int)
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple or tp is tuple:
        return "a list"
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, str(tp))


def _has_shape(value: Any, tp: Any) -> bool:
    """`value` is a mapping for a mapping type, a list for a list type."""
    origin = typing.get_origin(tp)
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    if origin is tuple or tp is tuple:
        return isinstance(value, list | tuple)
    return False


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            fail(path, f"expected {_describe(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if type(value) in args:  # `int | float` keeps the number as written
            if isinstance(value, float | int) and not isinstance(value, bool):
                return _convert(value, type(value), path)  # finite, in range
            return value
        arms = [a for a in args if a is not type(None)]
        if len(arms) == 1:  # `X | None`: X's own message is the precise one
            return _convert(value, arms[0], path)
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, path)
            except ConfigError:
                if _has_shape(value, a):
                    raise  # the value has this arm's shape: its own error says where
        fail(path, f"expected {_describe(tp)}, got {value!r}")
    if origin is tuple or tp is tuple:
        if not isinstance(value, list | tuple):
            fail(path, f"expected a list, got {value!r}")
        if not args:  # bare `tuple`: any items
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            fail(path, f"expected a list of {len(args)} items, got {value!r}")
        return tuple(_convert(v, a, f"{path}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            fail(path, f"expected a mapping, got {value!r}")
        item = args[1] if args else Any
        return {k: _convert(v, item, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build_at(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            fail(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            fail(path, f"expected an integer, got {value!r}")
        if abs(value) > INT_LIMIT:  # past it, numpy's int64 and float64 stop being exact
            fail(path, f"expected an integer of at most 2^53, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(path, f"expected a number, got {value!r}")
        try:
            out = float(value)
        except OverflowError:
            out = math.inf
        if not math.isfinite(out):
            fail(path, f"expected a finite number, got {value!r}")
        if abs(out) > MAGNITUDE_LIMIT:
            fail(path, f"expected a number of magnitude at most {MAGNITUDE_LIMIT:g}, "
                       f"got {value!r}")
        return out
    if tp is str:
        if not isinstance(value, str):
            fail(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp}")  # pragma: no cover


def build_at(cls: type[T], raw: Any, path: str) -> T:
    """A `cls` from the mapping `raw` at the dotted `path`; errors read ``path.field: message``."""
    prefix = f"{path}." if path else ""
    if not isinstance(raw, dict):
        fail(path or "(top level)", f"expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = {f.name for f in fields}
    for key in raw:
        if key not in names:
            near = difflib.get_close_matches(str(key), names, n=1)
            fail(f"{prefix}{key}", f"unknown field; did you mean {near[0]}?" if near else
                 f"unknown field; expected one of {', '.join(sorted(names))}")
    for f in fields:
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and f.name not in raw:
            fail(f"{prefix}{f.name}", "missing; this field is required")
    kwargs = {k: _convert(v, hints[k], f"{prefix}{k}") for k, v in raw.items()}
    for f in fields:  # upper bounds with a meaning, from the field's metadata
        top = f.metadata.get("max")
        v = kwargs.get(f.name)
        if top is not None and isinstance(v, int | float) and v > top:
            fail(f"{prefix}{f.name}", f"expected at most {f.metadata['meaning']}, got {v!r}")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        # Field validators raise "field: msg"; prefix with the full path.
        raise ConfigError(f"{prefix}{exc}") from None


def build(cls: type[T], raw: Any, source: str, path: str = "") -> T:
    """A `cls` from the mapping `raw` found at `path` of `source` (a file name);
    errors read ``source: path.field: message``."""
    try:
        return build_at(cls, raw, path)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
