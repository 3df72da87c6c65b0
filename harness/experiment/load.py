"""Loading an experiment file (see harness/experiment/__init__.py for the shape).

The file's sections are typed dataclasses built by config's typed build
(unknown fields, wrong types: one-line errors naming the file and the
field); their ``__post_init__`` checks values. The sections then become the
spec (spec.py), and every suite entry, sweep point and study bound is tried
as a run config, so a wrong knob fails at load, not mid-run.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import with_config

from harness.config import load_yaml, load_yaml_extends, parse_override, set_path
from harness.config.files import EXPERIMENT_KEYS, RUN_CONFIG_KEYS
from harness.config.loader import (
    DURATION_LIMIT_S,
    STRICT,
    Bool,
    Float,
    Int,
    Number,
    Str,
    build,
    fail,
    one_of,
    real,
    whole,
)
from harness.config.raw import OVERRIDE, blame_override
from harness.errors import ConfigError
from harness.experiment.space import Param, parse_space
from harness.experiment.spec import (
    AGGREGATES,
    BASELINES,
    CONSTRAINTS,
    DERIVED_METRICS,
    PRUNERS,
    SAMPLERS,
    SCHEDULES,
    Experiment,
    FidelitySpec,
    Objective,
    PrunerSpec,
    StudySpec,
    SweepSpec,
)
from harness.model.metrics import metric_names


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


# ------------------------------------------------------- the file's sections


def _check_seeds(name: str, seeds: tuple[int, ...], allow_empty: bool) -> None:
    if not seeds and not allow_empty:
        fail(name, "expected a non-empty list of integers")
    for v in seeds:
        if v < 0:
            fail(name, f"expected integers >= 0, got {v!r}")
    if len(set(seeds)) != len(seeds):
        fail(name, "duplicate seeds")


@with_config(STRICT)
@dataclass(frozen=True)
class SweepSection:
    grid: dict[Str, tuple] | None = None  # dotted knob -> values
    random: dict[Str, Any] | None = None  # a search space, parsed by parse_space
    samples: Int | None = None
    seed: Int = 0
    include_default: Bool = True

    def __post_init__(self) -> None:
        for k, v in (self.grid or {}).items():
            if not v:
                fail(f"grid.{k}", "expected a non-empty list of values")
        if self.random and (self.samples is None or self.samples < 1):
            fail("samples", "expected a number of random draws >= 1")
        if not self.random and self.samples:
            fail("samples", "needs a random: space to sample from")
        if self.seed < 0:
            fail("seed", "expected an integer >= 0")


@with_config(STRICT)
@dataclass(frozen=True)
class PrunerSection:
    kind: Str = "auto"
    # Passed to the Optuna pruner as given (only the keys the file sets).
    n_startup_trials: Int | None = None
    n_warmup_steps: Int | None = None
    percentile: Number | None = None
    min_resource: Int | Str | None = None
    reduction_factor: Int | None = None

    def __post_init__(self) -> None:
        if self.kind not in PRUNERS:
            fail("kind", f"expected one of {', '.join(PRUNERS)}, got {self.kind!r}")


@with_config(STRICT)
@dataclass(frozen=True)
class FidelitySection:
    """Multi-fidelity: each trial first simulated for a share of duration_s; the
    pruner decides after each rung which trials run the next (longer) one."""

    pruner: one_of("successive_halving", "hyperband") = "successive_halving"
    # The shortest rung is the longest duration / reduction_factor^k that is
    # still at least this (so 300 s, factor 3, 30 s: rungs of 33, 100, 300 s).
    min_duration_s: real("seconds >= 10", ge=10, le=DURATION_LIMIT_S) = 30.0
    reduction_factor: whole("an integer in [2, 10]", ge=2, le=10) = 3


@with_config(STRICT)
@dataclass(frozen=True)
class StudySection:
    space: dict[Str, Any] | None = None  # parsed by parse_space
    # Each a metric name or {metric, direction, aggregate}.
    objectives: tuple[Str | dict[Str, Any], ...] = (
        {"metric": "objective", "direction": "maximize"},)
    aggregate: Str = "mean"  # the objectives' default
    gmean_shift: Float = 1.0
    sampler: Str = "auto"
    sampler_options: dict[Str, Any] | None = None
    seed: Int = 0
    trials: Int | None = None
    timeout_s: Float | None = None
    pruner: Str | dict[Str, Any] = "auto"
    enqueue_default: Bool = True
    # Regret: after the shared study, a study of this many trials on each
    # workload alone gives that workload's own best knobs (0 = none).
    per_workload_trials: Int = 0
    # Guards (Optuna constraints): max_hit_loss_points, max_cpu_percent.
    constraints: dict[Str, Float] | None = None
    schedule: Str = "generations"  # generations | async
    generation_size: Int = 8       # trials asked together (not the CPU count)
    top_k: Int = 5                 # re-evaluated on the holdout seeds; 0 = none
    fidelity: FidelitySection | None = None  # rungs over duration_s (generations only)
    # Baseline policies among the references of a normalized study (with the
    # RFC defaults and the oracle, which the normalization needs).
    baselines: tuple[one_of(*BASELINES), ...] = BASELINES

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            fail("aggregate", f"expected one of {', '.join(AGGREGATES)}, got {self.aggregate!r}")
        if not self.objectives:
            fail("objectives", "expected a non-empty list of {metric, direction} mappings")
        if self.gmean_shift < 0:
            fail("gmean_shift", "expected a number >= 0")
        if self.sampler not in SAMPLERS:
            fail("sampler", f"expected one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.seed < 0:
            fail("seed", "expected an integer >= 0")
        if self.trials is not None and self.trials < 1:
            fail("trials", "expected an integer >= 1")
        if self.timeout_s is not None and self.timeout_s <= 0:
            fail("timeout_s", "expected seconds > 0")
        if self.per_workload_trials < 0:
            fail("per_workload_trials", "expected an integer >= 0 (0 = no per-workload studies)")
        for k, v in (self.constraints or {}).items():
            if k not in CONSTRAINTS:
                fail("constraints", f"{k}: expected one of {', '.join(CONSTRAINTS)}")
            if not v >= 0:
                fail(f"constraints.{k}", f"expected a number >= 0, got {v!r}")
        if self.schedule not in SCHEDULES:
            fail("schedule", f"expected one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.generation_size < 1:
            fail("generation_size", "expected an integer >= 1")
        if self.top_k < 0:
            fail("top_k", "expected an integer >= 0 (0 = choose on the study seeds)")
        if self.fidelity is not None:
            if self.schedule != "generations":
                fail("fidelity", "needs schedule: generations (its rungs are decided in "
                     "trial-number order)")
            if len(self.objectives) > 1:
                fail("fidelity", "Optuna prunes single-objective studies only")


@with_config(STRICT)
@dataclass(frozen=True)
class ExperimentFile:
    """The top level of an experiment file."""

    name: Str | None = None  # default: the file's stem
    base: Str | dict[Str, Any] = field(default_factory=dict)  # a run config file or mapping
    set: dict[Str, Any] | None = None  # overrides on the base (dotted keys or nested)
    suite: dict[Str, dict[Str, Any] | None] | None = None  # workload name -> overrides
    seeds: tuple[Int, ...] = (1,)
    holdout_seeds: tuple[Int, ...] = ()
    sweep: SweepSection | None = None
    study: StudySection | None = None

    def __post_init__(self) -> None:
        n = self.name
        if n is not None and (not n or "/" in n or n.startswith(".")):
            fail("name", f"expected a plain name (no '/'), got {n!r}")
        if self.suite is not None:
            if not self.suite:
                fail("suite", "expected a mapping of workload name -> overrides")
            for w in self.suite:
                if not isinstance(w, str) or not w or "/" in w:
                    fail("suite", f"{w!r}: expected a plain workload name")
        _check_seeds("seeds", self.seeds, allow_empty=False)
        _check_seeds("holdout_seeds", self.holdout_seeds, allow_empty=True)


def experiment_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment file (suite, seeds, sweep, study); its
    `base:` is a run config file or an inline run config."""
    from harness.config.json_schema import run_config_schema
    from harness.config.loader import type_adapter

    out = type_adapter(ExperimentFile).json_schema()
    out["properties"]["base"] = {"anyOf": [
        {"type": "string", "description": "a run config file, relative to this one"},
        {"$ref": "#/$defs/RunConfig"}]}
    run = run_config_schema()
    out["$defs"].update(run.pop("$defs"))
    run.pop("$schema")
    out["$defs"]["RunConfig"] = run
    out["title"] = "tiersweep experiment"
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out


# ------------------------------------------------------------------ loading


def load_experiment(path: str | Path, overrides: list[str] | None = None,
                    override_source: str = OVERRIDE) -> Experiment:
    """Load and validate an experiment (suite + sweep/study) YAML file.

    `overrides` are `KEY=VALUE` strings applied to the base run config (as a
    run config's overrides); `override_source` names them in errors.
    """
    p = Path(path)
    src = str(p)
    raw = load_yaml(p)
    if set(raw) & RUN_CONFIG_KEYS and not set(raw) & EXPERIMENT_KEYS:
        raise ConfigError(f"{p}: this is a run config; this command takes an experiment file "
                          "(base, suite, seeds, sweep or study), e.g. configs/suite.yaml "
                          "(simulate takes run configs)")
    f = build(ExperimentFile, raw, src)

    base_dir = p.parent
    if isinstance(f.base, str):
        bp = p.parent / f.base
        base_raw = load_yaml_extends(bp)  # a base may itself extend another file
        base_dir = bp.parent
    else:
        base_raw = copy.deepcopy(f.base)
    base_raw.pop("name", None)
    for k, v in flatten(f.set or {}).items():
        set_path(base_raw, k, v, f"{src}: set")
    for text in overrides or []:
        k, v = parse_override(text, override_source)
        set_path(base_raw, k, v, override_source)

    suite = {w: flatten(ov or {}) for w, ov in (f.suite or {"base": {}}).items()}
    exp = Experiment(name=f.name or p.stem, source=src, base_raw=base_raw, base_dir=base_dir,
                     suite=suite, seeds=f.seeds, holdout_seeds=f.holdout_seeds)
    # Validate every suite entry now: a wrong field names the file and the path
    # (or the --set override that set it).
    for w in suite:
        try:
            exp.run_config(w, f.seeds[0])
        except ConfigError as exc:
            blamed = blame_override(str(exc), overrides or [], override_source)
            if blamed is None:
                raise
            raise ConfigError(blamed) from None

    if f.sweep is not None:
        exp.sweep = _sweep_spec(f.sweep, f"{src}: sweep")
        for pt in exp.sweep_points():
            for w in suite:
                _check_params(exp, w, pt.params, f"{src}: sweep")
    if f.study is not None:
        exp.study = _study_spec(f.study, src, "study")
        _check_space(exp, exp.study.space, f"{src}: study.space")
        fid = exp.study.fidelity
        if fid is not None:
            top = exp.top_duration_s
            if len(fid.steps(top)) < 2:
                raise ConfigError(
                    f"{src}: study.fidelity.min_duration_s: expected at most "
                    f"{top / fid.reduction_factor:g} s (the longest duration_s {top:g} s / "
                    f"reduction_factor {fid.reduction_factor}), got {fid.min_duration_s:g}")
    return exp


def _sweep_spec(s: SweepSection, where: str) -> SweepSpec:
    if not s.grid and not s.random and not s.include_default:
        raise ConfigError(f"{where}: expected grid and/or random (or include_default)")
    grid = tuple((str(k), v) for k, v in (s.grid or {}).items())
    random = parse_space(s.random, f"{where}.random") if s.random else ()
    return SweepSpec(grid=grid, random=random, samples=s.samples or 0, seed=s.seed,
                     include_default=s.include_default)


def _study_spec(s: StudySection, src: str, path: str) -> StudySpec:
    where = f"{src}: {path}"
    space = parse_space(s.space, f"{where}.space")
    objectives = []
    for i, o in enumerate(s.objectives):
        o = {"metric": o} if isinstance(o, str) else o
        objectives.append(build(Objective, {"aggregate": s.aggregate, **o}, src,
                                f"{path}.objectives[{i}]"))
    if len({o.metric for o in objectives}) != len(objectives):
        raise ConfigError(f"{where}.objectives: each metric at most once")
    names = (*metric_names(), *DERIVED_METRICS)
    for i, o in enumerate(objectives):
        if o.metric not in names:
            near = difflib.get_close_matches(o.metric, names, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            raise ConfigError(f"{where}.objectives[{i}].metric: unknown metric {o.metric!r}; "
                              f"{hint}expected one of {', '.join(names)}")
    pr = {"kind": s.pruner} if isinstance(s.pruner, str) else s.pruner
    kind = build(PrunerSection, pr, src, f"{path}.pruner").kind
    if len(objectives) > 1 and kind not in ("auto", "none"):
        raise ConfigError(f"{where}.pruner: Optuna prunes single-objective studies only; "
                          "use none with several objectives")
    if s.fidelity is not None and kind not in ("auto", "none"):
        raise ConfigError(f"{where}.pruner: the fidelity section's pruner decides the rungs; "
                          "leave pruner out (or auto)")
    if s.sampler == "grid":
        for p in space:
            if p.when:
                raise ConfigError(f"{where}.space.{p.key}.when: the grid sampler does not "
                                  "support conditional parameters")
            try:
                p.grid_values()
            except ConfigError as exc:
                raise ConfigError(f"{where}.space.{exc}") from None
    return StudySpec(space=space, objectives=tuple(objectives), gmean_shift=s.gmean_shift,
                     sampler=s.sampler, sampler_options=tuple((s.sampler_options or {}).items()),
                     seed=s.seed, trials=s.trials, timeout_s=s.timeout_s,
                     pruner=PrunerSpec(kind, tuple((k, v) for k, v in pr.items() if k != "kind")),
                     enqueue_default=s.enqueue_default,
                     per_workload_trials=s.per_workload_trials,
                     constraints=tuple((s.constraints or {}).items()), schedule=s.schedule,
                     generation_size=s.generation_size, top_k=s.top_k,
                     baselines=tuple(dict.fromkeys(s.baselines)),
                     fidelity=None if s.fidelity is None else FidelitySpec(
                         s.fidelity.pruner, float(s.fidelity.min_duration_s),
                         int(s.fidelity.reduction_factor)))


# ------------------------------------------- knobs tried as run configs


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
