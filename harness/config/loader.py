"""The typed build: a plain mapping (from YAML) -> a frozen dataclass, validated
by pydantic.

The config dataclasses stay plain frozen dataclasses (the model reads them and
never imports pydantic); pydantic validates a mapping into them through a
TypeAdapter: unknown keys refused (``extra="forbid"``), numbers finite and
inside a range with a meaning (the aliases below), no coercion of text to
numbers or numbers to booleans (``Strict``). The dataclasses check their values
and the relations between fields in ``__post_init__`` with :func:`fail`.

Every error is one line naming the dotted field path: pydantic's first error
is rewritten here, the one place that knows pydantic's error types.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from harness.errors import ConfigError

INT_LIMIT = 2**53
# No number of a config means anything past this (sizes in GB, times in s, ms,
# us or ns, rates per s): a bound before anything overflows (a float's inf, int64).
MAGNITUDE_LIMIT = 1e15
PIB_IN_GB = 2**20
DURATION_LIMIT_S = 1e7

# What a bound means, in the messages (pydantic reports only the number).
_BOUNDS = {
    MAGNITUDE_LIMIT: f"a number of magnitude at most {MAGNITUDE_LIMIT:g}",
    INT_LIMIT: "an integer of at most 2^53",
    PIB_IN_GB: "at most 1 PiB (1048576 GB)",
    DURATION_LIMIT_S: "at most 1e7 s (116 days)",
}

_BOUND_KINDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
                "less_than_equal": "<="}

# Every dataclass a file is built into carries this (pydantic's with_config).
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _whole_float_to_int(v: Any) -> Any:
    # 512.0 is the integer 512 (a YAML or optuna float); 512.5 stays a float and fails.
    if isinstance(v, float) and v.is_integer():
        if abs(v) > INT_LIMIT:  # the bound's own error, naming the float as written
            raise PydanticCustomError("less_than_equal", "too large", {"le": INT_LIMIT})
        return int(v)
    return v


# The field types: past INT_LIMIT numpy's int64 and float64 stop being exact.
Int = Annotated[int, Strict(), Field(ge=-INT_LIMIT, le=INT_LIMIT),
                BeforeValidator(_whole_float_to_int)]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-MAGNITUDE_LIMIT,
                                         le=MAGNITUDE_LIMIT)]
# A number kept as written (an int stays an int, 5.0 stays a float).
Number = Annotated[int, Strict(), Field(ge=-INT_LIMIT, le=INT_LIMIT)] | Float
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
SizeGB = Annotated[Float, Field(le=PIB_IN_GB)]
DurationS = Annotated[Float, Field(le=DURATION_LIMIT_S)]


@dataclasses.dataclass(frozen=True)
class Says:
    """What a field's bound means, in its error message ("a capacity > 0")."""

    text: str


def _bounds(limit: float, gt, ge, lt, le) -> dict[str, float]:
    lower = {"gt": gt} if gt is not None else {"ge": -limit if ge is None else ge}
    upper = {"lt": lt} if lt is not None else {"le": limit if le is None else le}
    return {**lower, **upper}


def real(says: str, *, gt: float | None = None, ge: float | None = None,
         lt: float | None = None, le: float | None = None) -> Any:
    """A finite float field inside its range: the one declaration of its bounds,
    which the validator checks and the JSON Schema carries (minimum,
    exclusiveMinimum, ...); unset sides keep the magnitude limit."""
    return Annotated[float, Strict(), Field(allow_inf_nan=False,
                                            **_bounds(MAGNITUDE_LIMIT, gt, ge, lt, le)),
                     Says(says)]


def whole(says: str, *, gt: int | None = None, ge: int | None = None,
          lt: int | None = None, le: int | None = None) -> Any:
    """An integer field inside its range (see `real`); 512.0 reads as 512."""
    return Annotated[int, Strict(), Field(**_bounds(INT_LIMIT, gt, ge, lt, le)),
                     BeforeValidator(_whole_float_to_int), Says(says)]


def one_of(*values: int) -> Any:
    """An integer that is one of `values` (the JSON Schema's enum)."""
    return Annotated[Literal[values], BeforeValidator(_whole_float_to_int)]


def _says(tp: Any) -> str | None:
    """The Says of an annotated field type (also under `X | None`)."""
    if typing.get_origin(tp) is Annotated:
        found = [m for m in tp.__metadata__ if isinstance(m, Says)]
        if found:
            return found[-1].text
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            if (text := _says(arm)) is not None:
                return text
    return None

T = TypeVar("T")


class FieldError(ConfigError, ValueError):
    """A value check of a dataclass field; a ValueError so that pydantic
    reports it at the dataclass's place in the file."""


def fail(path: str, msg: str) -> typing.NoReturn:
    """Raise the one-line error of a field (the build adds its parents' path)."""
    raise FieldError(f"{path}: {msg}")


def _strip(tp: Any) -> Any:
    """The type under Annotated[...] and under a one-armed `X | None`."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return _strip(arms[0])
    return tp


def _describe(tp: Any) -> str:
    """What a (stripped) type accepts, in the file's words."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [_strip(a) if a is not type(None) else a for a in typing.get_args(tp)]
        if float in args:  # `int | float`: a number
            args = [a for a in args if a is not int]
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple or tp is tuple:
        args = typing.get_args(tp)
        if args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} items"
        return "a list"
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, str(tp))


def _walk(cls: type, loc: tuple) -> tuple[str, Any, type | None]:
    """pydantic's error location -> (dotted path, the type there, the dataclass
    an unknown key was found in). A union arm's tag in `loc` ends the walk at
    the union: its message names every arm."""
    path, tp = "", cls
    for el in loc:
        tp = _strip(tp)
        if dataclasses.is_dataclass(tp) and isinstance(el, str):
            hints = typing.get_type_hints(tp, include_extras=True)
            path = f"{path}.{el}" if path else el
            if el not in hints:
                return path, None, tp
            tp = hints[el]
        elif (typing.get_origin(tp) is tuple or tp is tuple) and isinstance(el, int):
            args = typing.get_args(tp)
            path = f"{path}[{el}]"
            tp = args[0] if len(args) == 2 and args[1] is Ellipsis else (
                args[el] if el < len(args) else Any)
        elif typing.get_origin(tp) is dict:
            path = f"{path}.{el}" if path else str(el)
            tp = typing.get_args(tp)[1]
        else:
            break
    return path, tp, None


def _message(cls: type, errors: list[dict[str, Any]]) -> str:
    """pydantic's first error as ``path: message`` in the file's words. A union
    fails once per arm: the arm the value has the type of says what is wrong."""
    path, tp, unknown_in = _walk(cls, errors[0]["loc"])
    arms = [e for e in errors if _walk(cls, e["loc"])[0] == path]
    err = next((e for e in arms if not e["type"].endswith(("_type", "_parsing"))), arms[0])
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    where = path or "(top level)"
    if kind == "value_error" and isinstance(ctx.get("error"), FieldError):
        inner = str(ctx["error"])  # "field: message", relative to the dataclass at `path`
        return f"{path}.{inner}" if path else inner
    if unknown_in is not None:
        names = [f.name for f in dataclasses.fields(unknown_in) if f.init]
        key = path.rpartition(".")[2]
        near = difflib.get_close_matches(key, names, n=1)
        return f"{where}: " + (f"unknown field; did you mean {near[0]}?" if near else
                               f"unknown field; expected one of {', '.join(sorted(names))}")
    if kind in ("missing", "missing_argument"):
        return f"{where}: missing; this field is required"
    if kind == "finite_number":
        return f"{where}: expected a finite number, got {got!r}"
    if kind in _BOUND_KINDS:
        bound = next(ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx)
        meaning = _BOUNDS.get(abs(bound)) or _says(tp) or f"a value {_BOUND_KINDS[kind]} {bound:g}"
        return f"{where}: expected {meaning}, got {got!r}"
    return f"{where}: expected {_describe(_strip(tp))}, got {got!r}"


@functools.cache
def type_adapter(cls: type) -> TypeAdapter:
    """pydantic's validator (and JSON Schema) of a config dataclass, built once."""
    return TypeAdapter(cls)


def build_at(cls: type[T], raw: Any, path: str) -> T:
    """A `cls` from the mapping `raw` at the dotted `path`; errors read ``path.field: message``."""
    if not isinstance(raw, dict):
        fail(path or "(top level)", f"expected a mapping, got {raw!r}")
    try:
        return type_adapter(cls).validate_python(raw)
    except ValidationError as exc:
        msg = _message(cls, exc.errors(include_url=False))
    raise ConfigError(f"{path}.{msg}" if path else msg)


def build(cls: type[T], raw: Any, source: str, path: str = "") -> T:
    """A `cls` from the mapping `raw` found at `path` of `source` (a file name);
    errors read ``source: path.field: message``."""
    try:
        return build_at(cls, raw, path)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
