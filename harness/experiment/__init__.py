"""Experiment files: a base run config crossed with a workload suite and seeds,
plus a sweep (grid / random sample) and/or a study (Optuna search space).

The YAML shape (see ``configs/suite.yaml``)::

    name: suite                  # optional; default: the file's stem
    base: zipf.yaml              # run config file (relative to this file) or inline mapping
    set: {duration_s: 30}        # optional overrides (dotted keys or nested) on the base
    suite:                       # named workloads: overrides applied to base + set
      zipf: {workload: {kind: zipf, size_gb: 1}}
      hotset: {workload.kind: hotset}
    seeds: [1, 2, 3]             # every point / trial runs every workload with every seed
    holdout_seeds: [4]           # optional: also used by tune's final comparison
    sweep:
      grid: {policy.scan_size_mb: [256, 1024]}
      random: {policy.scan_period_ms: {type: int, low: 500, high: 5000, log: true}}
      samples: 4                 # random draws (per grid point when both are given)
      seed: 0
      include_default: true      # point 0 = the base config, label "rfc-default"
    study:
      space: {policy.scan_size_mb: {type: int, low: 256, high: 4096, log: true}}
      objectives: [{metric: objective, direction: maximize}]
      aggregate: mean            # mean | worst | gmean (gmean_shift, see aggregate())
      sampler: auto              # auto | tpe | nsga2 | random | grid | gp
      seed: 0
      trials: 40
      pruner: auto               # auto | none | median | percentile | successive_halving | hyperband

Everything is validated on load; an error names the file and the field path
and raises ConfigError (exit code 2).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import RunConfig, from_dict, load_yaml, load_yaml_extends, set_path
from harness.errors import ConfigError

AGGREGATES = ("mean", "worst", "gmean")
SAMPLERS = ("auto", "tpe", "nsga2", "random", "grid", "gp")
PRUNERS = ("auto", "none", "median", "percentile", "successive_halving", "hyperband")
DEFAULT_LABEL = "rfc-default"

_TOP_KEYS = {"name", "base", "set", "suite", "seeds", "holdout_seeds", "sweep", "study"}
_SWEEP_KEYS = {"grid", "random", "samples", "seed", "include_default"}
_STUDY_KEYS = {"space", "objectives", "aggregate", "gmean_shift", "sampler", "sampler_options",
               "seed", "trials", "timeout_s", "pruner", "enqueue_default"}
_PARAM_KEYS = {"type", "low", "high", "log", "step", "choices", "when", "grid"}
_OBJ_KEYS = {"metric", "direction", "aggregate"}
_PRUNER_KEYS = {"kind", "n_startup_trials", "n_warmup_steps", "percentile", "min_resource",
                "reduction_factor"}


# ------------------------------------------------------------------ helpers


def flatten(raw: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> dotted keys; lists and scalars are leaves."""
    if not isinstance(raw, dict):
        return {prefix: raw} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def get_path(cfg: RunConfig, key: str) -> Any:
    """Value of a dotted path in a (resolved) RunConfig; `workload.x` reads workload 0."""
    obj: Any = cfg
    parts = key.split(".")
    if parts[0] == "workload":
        obj = cfg.workloads[0]
        parts = parts[1:]
    for p in parts:
        obj = obj[int(p)] if isinstance(obj, tuple | list) else getattr(obj, p)
    return obj


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# ------------------------------------------------------------ search spaces


@dataclass(frozen=True)
class Param:
    """One knob of a search space (a dotted RunConfig path)."""

    key: str
    type: str  # int | float | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    when: tuple[tuple[str, tuple], ...] = ()
    grid: tuple = ()

    def active(self, values: dict[str, Any]) -> bool:
        """True when every `when` condition holds for `values` (params + defaults)."""
        return all(values.get(k) in allowed for k, allowed in self.when)

    def contains(self, v: Any) -> bool:
        if self.type == "categorical":
            return v in self.choices
        if not _is_number(v) or not self.low <= v <= self.high:
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
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a non-empty mapping of dotted knob -> spec")
    params = []
    for key, spec in raw.items():
        params.append(parse_param(str(key), spec, f"{where}.{key}"))
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
    for k in spec:
        if k not in _PARAM_KEYS:
            raise ConfigError(f"{where}.{k}: unknown field; expected one of "
                              f"{', '.join(sorted(_PARAM_KEYS))}")
    typ = spec.get("type")
    if typ not in ("int", "float", "categorical"):
        raise ConfigError(f"{where}.type: expected one of 'int', 'float', 'categorical', "
                          f"got {typ!r}")
    when = _parse_when(spec.get("when"), f"{where}.when")
    grid = spec.get("grid", ())
    if not isinstance(grid, list | tuple):
        raise ConfigError(f"{where}.grid: expected a list of values")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log: expected true or false, got {log!r}")
    if typ == "categorical":
        for k in ("low", "high", "log", "step"):
            if k in spec:
                raise ConfigError(f"{where}.{k}: not allowed for a categorical parameter")
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices: expected a non-empty list")
        for c in choices:
            if not (c is None or isinstance(c, bool | int | float | str)):
                raise ConfigError(f"{where}.choices: expected scalars, got {c!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}.choices: duplicate choices")
        return Param(key, "categorical", choices=tuple(choices), when=when, grid=tuple(grid))
    if "choices" in spec:
        raise ConfigError(f"{where}.choices: only for type: categorical")
    low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
    for name, v in (("low", low), ("high", high)):
        if not _is_number(v):
            raise ConfigError(f"{where}.{name}: expected a number, got {v!r}")
        if typ == "int" and int(v) != v:
            raise ConfigError(f"{where}.{name}: expected an integer, got {v!r}")
    if not low <= high:
        raise ConfigError(f"{where}.low: expected low <= high, got {low} > {high}")
    if log and low <= 0:
        raise ConfigError(f"{where}.low: a log-scale parameter needs low > 0")
    if step is not None:
        if not _is_number(step) or step <= 0:
            raise ConfigError(f"{where}.step: expected a number > 0, got {step!r}")
        if log:
            raise ConfigError(f"{where}.step: step and log cannot be combined")
        if typ == "int" and int(step) != step:
            raise ConfigError(f"{where}.step: expected an integer step")
    return Param(key, typ, low=low, high=high, log=log, step=step, when=when, grid=tuple(grid))


def _parse_when(raw: Any, where: str) -> tuple[tuple[str, tuple], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a mapping of dotted knob -> value or list of values")
    out = []
    for k, v in raw.items():
        allowed = tuple(v) if isinstance(v, list) else (v,)
        out.append((str(k), allowed))
    return tuple(out)


# ------------------------------------------------------------ the experiment


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # maximize | minimize
    aggregate: str


@dataclass(frozen=True)
class SweepSpec:
    grid: tuple[tuple[str, tuple], ...] = ()
    random: tuple[Param, ...] = ()
    samples: int = 0
    seed: int = 0
    include_default: bool = True


@dataclass(frozen=True)
class PrunerSpec:
    kind: str = "auto"
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class StudySpec:
    space: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    gmean_shift: float = 1.0
    sampler: str = "auto"
    sampler_options: tuple[tuple[str, Any], ...] = ()
    seed: int = 0
    trials: int | None = None
    timeout_s: float | None = None
    pruner: PrunerSpec = PrunerSpec()
    enqueue_default: bool = True

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1


@dataclass(frozen=True)
class Point:
    """One sweep point: index, label and knob values."""

    index: int
    label: str
    params: dict


@dataclass
class Experiment:
    name: str
    source: str
    base_raw: dict
    base_dir: Path
    suite: dict[str, dict]  # workload name -> dotted overrides
    seeds: tuple[int, ...]
    holdout_seeds: tuple[int, ...] = ()
    sweep: SweepSpec | None = None
    study: StudySpec | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def workloads(self) -> list[str]:
        return list(self.suite)

    def run_config(self, workload: str, seed: int, params: dict | None = None) -> RunConfig:
        """The RunConfig of one evaluation: base + suite entry + params + seed.

        Overrides apply to the raw (unresolved) mapping, so a knob left unset
        keeps its policy version's default even when the version is a param.
        """
        key = (workload, seed, json.dumps(params or {}, sort_keys=True, default=str))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        raw = copy.deepcopy(self.base_raw)
        for k, v in self.suite[workload].items():
            set_path(raw, k, copy.deepcopy(v), f"{self.source}: suite.{workload}")
        for k, v in (params or {}).items():
            set_path(raw, k, v, f"{self.source}: {k}")
        raw["seed"] = int(seed)
        raw["name"] = f"{self.name}-{workload}"
        cfg = from_dict(raw, f"{self.source}: suite.{workload}")
        cfg = _resolve_paths(cfg, self.base_dir)
        if len(self._cache) < 4096:
            self._cache[key] = cfg
        return cfg

    def default_values(self, keys: list[str]) -> dict[str, Any]:
        """Resolved values of dotted knobs in the base config (first suite entry)."""
        cfg = self.run_config(self.workloads[0], self.seeds[0])
        out = {}
        for k in keys:
            try:
                out[k] = get_path(cfg, k)
            except (AttributeError, IndexError, ValueError):
                out[k] = None
        return out

    # -------------------------------------------------------------- sweeps
    def sweep_points(self) -> list[Point]:
        if self.sweep is None:
            raise ConfigError(f"{self.source}: sweep: missing; add a sweep: section "
                              "(grid and/or random + samples)")
        s = self.sweep
        points: list[Point] = []
        grid_keys = [k for k, _ in s.grid]
        if s.include_default:
            # The base config as it is; its param.* columns show the knobs'
            # effective (resolved) values so plots can place it.
            keys = grid_keys + [p.key for p in s.random]
            values = self.default_values(keys)
            active = {k: values[k] for k in grid_keys}
            for p in s.random:
                if p.active({**values, **active}):
                    active[p.key] = values[p.key]
            points.append(Point(0, DEFAULT_LABEL, active))
        combos = list(itertools.product(*[v for _, v in s.grid])) if s.grid else [()]
        draws = s.samples if s.random else 1
        defaults = self.default_values([k for p in s.random for k, _ in p.when])
        i = len(points)
        for combo in combos:
            for _ in range(draws):
                params = dict(zip(grid_keys, combo, strict=True))
                if s.random:
                    # One stream per point index: point i does not depend on the others.
                    rng = np.random.default_rng([s.seed, i])
                    for p in s.random:
                        if p.active({**defaults, **params}):
                            params[p.key] = p.sample(rng)
                points.append(Point(i, f"p{i:04d}", params))
                i += 1
        return points

    # -------------------------------------------------------------- identity
    def fingerprint(self, mode: str) -> str:
        """Hash of everything that gives an evaluation its meaning in `mode`."""
        body: dict[str, Any] = {
            "configs": {w: self.run_config(w, 0).to_dict() for w in self.workloads},
            "seeds": list(self.seeds),
        }
        if mode == "sweep" and self.sweep is not None:
            body["points"] = [[p.index, p.label, p.params] for p in self.sweep_points()]
        if mode == "tune" and self.study is not None:
            body["space"] = [repr(p) for p in self.study.space]
            body["objectives"] = [repr(o) for o in self.study.objectives]
            body["gmean_shift"] = self.study.gmean_shift
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """Plain, JSON-able description for the manifest."""
        out: dict[str, Any] = {
            "name": self.name, "source": self.source, "base": self.base_raw,
            "suite": self.suite, "seeds": list(self.seeds),
            "holdout_seeds": list(self.holdout_seeds),
            "resolved": {w: self.run_config(w, self.seeds[0]).to_dict() for w in self.workloads},
        }
        if self.sweep is not None:
            out["sweep"] = {"grid": {k: list(v) for k, v in self.sweep.grid},
                            "random": [repr(p) for p in self.sweep.random],
                            "samples": self.sweep.samples, "seed": self.sweep.seed,
                            "include_default": self.sweep.include_default}
        if self.study is not None:
            st = self.study
            out["study"] = {"space": [repr(p) for p in st.space],
                            "objectives": [o.__dict__ for o in st.objectives],
                            "gmean_shift": st.gmean_shift, "sampler": st.sampler,
                            "sampler_options": dict(st.sampler_options), "seed": st.seed,
                            "trials": st.trials, "timeout_s": st.timeout_s,
                            "pruner": {"kind": st.pruner.kind, **dict(st.pruner.options)},
                            "enqueue_default": st.enqueue_default}
        return out


def _resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    from harness.config import resolve_paths as resolve  # the run-config loader's own rule

    return resolve(cfg, base)


# ------------------------------------------------------------------ loading


def _check_keys(raw: dict, allowed: set[str], where: str) -> None:
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"{where}{k}: unknown field; expected one of "
                              f"{', '.join(sorted(allowed))}")


def _int_list(raw: Any, where: str, allow_empty: bool = False) -> tuple[int, ...]:
    if not isinstance(raw, list) or (not raw and not allow_empty):
        raise ConfigError(f"{where}: expected a {'' if allow_empty else 'non-empty '}"
                          "list of integers")
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{where}: expected integers >= 0, got {v!r}")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"{where}: duplicate seeds")
    return tuple(raw)


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Load and validate an experiment (suite + sweep/study) YAML file.

    `overrides` are `KEY=VALUE` strings applied to the base run config
    (like `tiersweep simulate --set`).
    """
    from harness.config import parse_override

    p = Path(path)
    src = str(p)
    raw = load_yaml(p)
    _check_keys(raw, _TOP_KEYS, f"{src}: ")
    name = raw.get("name", p.stem)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError(f"{src}: name: expected a plain name (no '/'), got {name!r}")

    base = raw.get("base", {})
    base_dir = p.parent
    if isinstance(base, str):
        bp = p.parent / base
        base_raw = load_yaml_extends(bp)  # a base may itself extend another file
        base_dir = bp.parent
    elif isinstance(base, dict):
        base_raw = copy.deepcopy(base)
    else:
        raise ConfigError(f"{src}: base: expected a run config file name or a mapping")
    base_raw.pop("name", None)
    sets = raw.get("set", {}) or {}
    if not isinstance(sets, dict):
        raise ConfigError(f"{src}: set: expected a mapping of overrides")
    for k, v in flatten(sets).items():
        set_path(base_raw, k, v, f"{src}: set")
    for text in overrides or []:
        k, v = parse_override(text)
        set_path(base_raw, k, v)

    suite_raw = raw.get("suite")
    if suite_raw is None:
        suite: dict[str, dict] = {"base": {}}
    elif isinstance(suite_raw, dict) and suite_raw:
        suite = {}
        for wname, ov in suite_raw.items():
            if not isinstance(wname, str) or not wname or "/" in wname:
                raise ConfigError(f"{src}: suite: {wname!r}: expected a plain workload name")
            if ov is None:
                ov = {}
            if not isinstance(ov, dict):
                raise ConfigError(f"{src}: suite.{wname}: expected a mapping of overrides")
            suite[wname] = flatten(ov)
    else:
        raise ConfigError(f"{src}: suite: expected a mapping of workload name -> overrides")

    seeds = _int_list(raw.get("seeds", [1]), f"{src}: seeds")
    holdout = _int_list(raw.get("holdout_seeds", []), f"{src}: holdout_seeds", allow_empty=True)
    exp = Experiment(name=name, source=src, base_raw=base_raw, base_dir=base_dir, suite=suite,
                     seeds=seeds, holdout_seeds=holdout)
    # Validate every suite entry now: a wrong field names the file and the path.
    for w in suite:
        exp.run_config(w, seeds[0])

    if raw.get("sweep") is not None:
        exp.sweep = _parse_sweep(raw["sweep"], f"{src}: sweep")
        for pt in exp.sweep_points():
            for w in suite:
                _check_params(exp, w, pt.params, f"{src}: sweep")
    if raw.get("study") is not None:
        exp.study = _parse_study(raw["study"], f"{src}: study")
        _check_space(exp, exp.study.space, f"{src}: study.space")
    return exp


def _parse_sweep(raw: Any, where: str) -> SweepSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    _check_keys(raw, _SWEEP_KEYS, f"{where}.")
    grid_raw = raw.get("grid", {}) or {}
    if not isinstance(grid_raw, dict):
        raise ConfigError(f"{where}.grid: expected a mapping of dotted knob -> list of values")
    grid = []
    for k, v in grid_raw.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}.grid.{k}: expected a non-empty list of values")
        grid.append((str(k), tuple(v)))
    random = parse_space(raw["random"], f"{where}.random") if raw.get("random") else ()
    samples = raw.get("samples", 0 if not random else None)
    if random and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise ConfigError(f"{where}.samples: expected a number of random draws >= 1")
    if not random and samples:
        raise ConfigError(f"{where}.samples: needs a random: space to sample from")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}.seed: expected an integer >= 0")
    inc = raw.get("include_default", True)
    if not isinstance(inc, bool):
        raise ConfigError(f"{where}.include_default: expected true or false")
    if not grid and not random and not inc:
        raise ConfigError(f"{where}: expected grid and/or random (or include_default)")
    return SweepSpec(grid=tuple(grid), random=random, samples=samples or 0, seed=seed,
                     include_default=inc)


def _parse_study(raw: Any, where: str) -> StudySpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    _check_keys(raw, _STUDY_KEYS, f"{where}.")
    space = parse_space(raw.get("space"), f"{where}.space")
    agg = raw.get("aggregate", "mean")
    if agg not in AGGREGATES:
        raise ConfigError(f"{where}.aggregate: expected one of {', '.join(AGGREGATES)}, "
                          f"got {agg!r}")
    objs_raw = raw.get("objectives", [{"metric": "objective", "direction": "maximize"}])
    if not isinstance(objs_raw, list) or not objs_raw:
        raise ConfigError(f"{where}.objectives: expected a non-empty list of "
                          "{metric, direction} mappings")
    objectives = []
    for i, o in enumerate(objs_raw):
        w = f"{where}.objectives[{i}]"
        if isinstance(o, str):
            o = {"metric": o}
        if not isinstance(o, dict):
            raise ConfigError(f"{w}: expected a mapping with metric and direction")
        _check_keys(o, _OBJ_KEYS, f"{w}.")
        metric = o.get("metric")
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"{w}.metric: expected a metric name, e.g. objective, hit_rate")
        direction = o.get("direction", "maximize")
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"{w}.direction: expected maximize or minimize, got {direction!r}")
        a = o.get("aggregate", agg)
        if a not in AGGREGATES:
            raise ConfigError(f"{w}.aggregate: expected one of {', '.join(AGGREGATES)}")
        objectives.append(Objective(metric, direction, a))
    if len({o.metric for o in objectives}) != len(objectives):
        raise ConfigError(f"{where}.objectives: each metric at most once")
    shift = raw.get("gmean_shift", 1.0)
    if not _is_number(shift) or shift < 0:
        raise ConfigError(f"{where}.gmean_shift: expected a number >= 0")
    sampler = raw.get("sampler", "auto")
    if sampler not in SAMPLERS:
        raise ConfigError(f"{where}.sampler: expected one of {', '.join(SAMPLERS)}, "
                          f"got {sampler!r}")
    sopts = raw.get("sampler_options", {}) or {}
    if not isinstance(sopts, dict):
        raise ConfigError(f"{where}.sampler_options: expected a mapping of keyword arguments")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}.seed: expected an integer >= 0")
    trials = raw.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or trials < 1):
        raise ConfigError(f"{where}.trials: expected an integer >= 1")
    timeout = raw.get("timeout_s")
    if timeout is not None and (not _is_number(timeout) or timeout <= 0):
        raise ConfigError(f"{where}.timeout_s: expected seconds > 0")
    pr = raw.get("pruner", "auto")
    if isinstance(pr, str):
        pr = {"kind": pr}
    if not isinstance(pr, dict):
        raise ConfigError(f"{where}.pruner: expected a pruner name or a mapping with kind")
    _check_keys(pr, _PRUNER_KEYS, f"{where}.pruner.")
    kind = pr.get("kind", "auto")
    if kind not in PRUNERS:
        raise ConfigError(f"{where}.pruner.kind: expected one of {', '.join(PRUNERS)}, "
                          f"got {kind!r}")
    if len(objectives) > 1 and kind not in ("auto", "none"):
        raise ConfigError(f"{where}.pruner: Optuna prunes single-objective studies only; "
                          "use none with several objectives")
    enq = raw.get("enqueue_default", True)
    if not isinstance(enq, bool):
        raise ConfigError(f"{where}.enqueue_default: expected true or false")
    if sampler == "grid":
        for p in space:
            if p.when:
                raise ConfigError(f"{where}.space.{p.key}.when: the grid sampler does not "
                                  "support conditional parameters")
            try:
                p.grid_values()
            except ConfigError as exc:
                raise ConfigError(f"{where}.space.{exc}") from None
    return StudySpec(space=space, objectives=tuple(objectives), gmean_shift=float(shift),
                     sampler=sampler, sampler_options=tuple(sopts.items()), seed=seed,
                     trials=trials, timeout_s=timeout,
                     pruner=PrunerSpec(kind, tuple((k, v) for k, v in pr.items() if k != "kind")),
                     enqueue_default=enq)


def _config_problem(exp: Experiment, workload: str, params: dict) -> str | None:
    """Why `params` give no valid run config for `workload` (None if they do),
    without the experiment-and-suite prefix the caller adds its own way."""
    try:
        exp.run_config(workload, exp.seeds[0], params)
    except ConfigError as exc:
        return str(exc).removeprefix(f"{exp.source}: suite.{workload}: ")
    return None


def _check_params(exp: Experiment, workload: str, params: dict, where: str) -> None:
    msg = _config_problem(exp, workload, params)
    if msg is not None:
        raise ConfigError(f"{where}: {msg} (with {params})")


def _check_space(exp: Experiment, space: tuple[Param, ...], where: str) -> None:
    """Every knob must exist and accept its low, high and every choice."""
    defaults = exp.default_values([k for p in space for k, _ in p.when])
    for p in space:
        values = list(p.choices) if p.type == "categorical" else [p.low, p.high]
        if p.type == "int":
            values = [int(v) for v in values]
        for v in values:
            params = {p.key: v}
            # Conditions name other knobs: give them a value that activates p.
            for k, allowed in p.when:
                params.setdefault(k, allowed[0] if defaults.get(k) not in allowed
                                  else defaults[k])
            for w in exp.workloads:
                msg = _config_problem(exp, w, params)
                if msg is not None:
                    raise ConfigError(f"{where}.{p.key}: value {v!r} is not accepted: {msg}")
