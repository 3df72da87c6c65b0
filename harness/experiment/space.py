"""Search spaces: knobs (dotted RunConfig paths) with their ranges or choices.

A space is written in YAML as ``{dotted.knob: {type, low, high, log, step,
choices, when, grid}}`` (a bare list is shorthand for categorical choices).
Types are checked by config's typed build, values by ``Param.__post_init__``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import with_config

from harness.config.loader import STRICT, Bool, Number, Str, build_at
from harness.config.loader import fail as _fail
from harness.errors import ConfigError


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@with_config(STRICT)
@dataclass(frozen=True)
class Param:
    """One knob of a search space (a dotted RunConfig path).

    Numbers are kept as written (an int stays an int): the repr of a space is
    part of a run directory's fingerprint."""

    key: Str
    type: Literal["int", "float", "categorical"]
    low: Number | None = None
    high: Number | None = None
    log: Bool = False
    step: Number | None = None
    choices: tuple = ()
    # (dotted knob, allowed values): the knob is active only when all hold.
    when: tuple[tuple[Str, tuple], ...] = ()
    grid: tuple = ()

    def __post_init__(self) -> None:
        if self.type == "categorical":
            self._check_categorical()
        else:
            self._check_numeric()

    def _check_categorical(self) -> None:
        for name in ("low", "high", "step"):
            if getattr(self, name) is not None:
                _fail(name, "not allowed for a categorical parameter")
        if self.log:
            _fail("log", "not allowed for a categorical parameter")
        if not self.choices:
            _fail("choices", "expected a non-empty list")
        for c in self.choices:
            if not (c is None or isinstance(c, bool | int | float | str)):
                _fail("choices", f"expected scalars, got {c!r}")
        if len(set(map(repr, self.choices))) != len(self.choices):
            _fail("choices", "duplicate choices")

    def _check_numeric(self) -> None:
        if self.choices:
            _fail("choices", "only for type: categorical")
        low, high, step = self.low, self.high, self.step
        for name, v in (("low", low), ("high", high)):
            if not is_number(v):
                _fail(name, f"expected a number, got {v!r}")
            if self.type == "int" and int(v) != v:
                _fail(name, f"expected an integer, got {v!r}")
        if not low <= high:
            _fail("low", f"expected low <= high, got {low} > {high}")
        if self.log and low <= 0:
            _fail("low", "a log-scale parameter needs low > 0")
        if step is not None:
            if step <= 0:
                _fail("step", f"expected a number > 0, got {step!r}")
            if self.log:
                _fail("step", "step and log cannot be combined")
            if self.type == "int" and int(step) != step:
                _fail("step", "expected an integer step")

    def active(self, values: dict[str, Any]) -> bool:
        """True when every `when` condition holds for `values` (params + defaults)."""
        return all(values.get(k) in allowed for k, allowed in self.when)

    def contains(self, v: Any) -> bool:
        if self.type == "categorical":
            return v in self.choices
        if not is_number(v) or not self.low <= v <= self.high:
            return False
        if self.type == "int" and int(v) != v:
            return False
        if self.step and not self.log:
            k = (v - self.low) / self.step
            return abs(k - round(k)) < 1e-9
        return True

    def grid_values(self) -> list:
        if self.grid:
            return list(self.grid)
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            step = int(self.step or 1)
            values = list(range(int(self.low), int(self.high) + 1, step))
            if len(values) <= 1000:
                return values
        raise ConfigError(f"{self.key}: the grid sampler needs `grid: [values]` for this parameter")

    def sample(self, rng: np.random.Generator) -> Any:
        """A random draw (numpy), for sweeps."""
        if self.type == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        lo, hi = float(self.low), float(self.high)
        if self.log:
            x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        elif self.type == "int":
            step = int(self.step or 1)
            n = (int(hi) - int(lo)) // step
            return int(lo) + step * int(rng.integers(n + 1))
        else:
            x = rng.uniform(lo, hi)
            if self.step:
                x = lo + self.step * round((x - lo) / self.step)
        if self.type == "int":
            return int(min(max(round(x), int(lo)), int(hi)))
        return float(min(max(x, lo), hi))

    def suggest(self, trial) -> Any:
        """Optuna define-by-run suggestion."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high),
                                   step=self.step, log=self.log)


def parse_space(raw: Any, where: str) -> tuple[Param, ...]:
    """The Params of a space mapping at the dotted path `where`; errors name it."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a non-empty mapping of dotted knob -> spec")
    params = [parse_param(str(key), spec, f"{where}.{key}") for key, spec in raw.items()]
    keys = [p.key for p in params]
    for i, p in enumerate(params):
        for k, _ in p.when:
            if k == p.key:
                raise ConfigError(f"{where}.{p.key}.when: a parameter cannot depend on itself")
            if k in keys and keys.index(k) > i:
                raise ConfigError(f"{where}.{p.key}.when: {k} must be listed before {p.key}")
    return tuple(params)


def parse_param(key: str, spec: Any, where: str) -> Param:
    if isinstance(spec, list):  # shorthand: a list of choices
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping with type: int | float | categorical")
    if "key" in spec:  # the mapping's key names the knob
        raise ConfigError(f"{where}.key: unknown field; the knob is the mapping's key")
    spec = dict(spec, key=key)
    if "when" in spec:
        spec["when"] = _when_pairs(spec["when"], f"{where}.when")
    return build_at(Param, spec, where)


def _when_pairs(raw: Any, where: str) -> list:
    """`{knob: value or [values]}` -> [[knob, [values]], ...], the shape Param.when takes."""
    if raw is None:
        return []
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a mapping of dotted knob -> value or list of values")
    return [[str(k), v if isinstance(v, list) else [v]] for k, v in raw.items()]
