"""The experiment spec: a base run config crossed with a workload suite and
seeds, plus a sweep (grid / random sample) and/or a study (Optuna search).

``Experiment.run_config`` gives the RunConfig of one evaluation;
``sweep_points`` the points of a sweep; ``fingerprint`` what gives a run
directory its meaning. Loading and validation: load.py.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import with_config

from harness.config import RunConfig, from_dict, resolve_paths, set_path
from harness.config.loader import STRICT, Str, fail
from harness.errors import ConfigError
from harness.experiment.space import Param

# The label of the base config's evaluations (sweep point 0, a study's
# enqueued trial, the comparisons' default): its one owner.
DEFAULT_LABEL = "rfc-default"
# compare's label of the recommended knobs (and a study's final comparison).
TUNED = "tuned"
# A workload's own best knobs (its per-workload study's best trial), evaluated
# beside the shared default in a study's final comparison: the regret baseline.
OWN_BEST = "own-best"
# The baseline policies (other than kmmscand) a study can run as references
# (study.baselines), each also a label of the comparisons.
BASELINES = ("none", "numab2", "damon_tier")
# Named labels, in legend order: the baselines, kmmscand at its RFC defaults
# and tuned.
NAMED_LABELS = (*BASELINES, DEFAULT_LABEL, TUNED, "oracle")
# The oracle's migrations cost nothing: an upper bound, never a contender.
NOT_CONTENDERS = ("oracle",)
AGGREGATES = ("mean", "worst", "gmean")
SAMPLERS = ("auto", "tpe", "nsga2", "random", "grid", "gp")
PRUNERS = ("auto", "none", "median", "percentile", "successive_halving", "hyperband")
# How trials are started: in generations of a fixed size told in trial-number
# order (the same answer on any machine) or asynchronously (a free slot asks).
SCHEDULES = ("generations", "async")
# Metrics a study derives from a row and the suite's reference runs (RFC
# defaults, none, oracle on the same workload and seed): harness.search.normalize.
DERIVED_METRICS = ("gain_share", "cost_rel", "norm_objective", "cpu_percent")
# The study's guards (Optuna constraints, <= 0 feasible): harness.search.normalize.
CONSTRAINTS = ("max_hit_loss_points", "max_cpu_percent")


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


@with_config(STRICT)
@dataclass(frozen=True)
class Objective:
    """One study objective: a metric, its direction, its aggregate over the suite."""

    metric: Str
    direction: Str = "maximize"  # maximize | minimize
    aggregate: Str = "mean"

    def __post_init__(self) -> None:
        if not self.metric:
            fail("metric", "expected a metric name, e.g. objective, hit_rate")
        if self.direction not in ("maximize", "minimize"):
            fail("direction", f"expected maximize or minimize, got {self.direction!r}")
        if self.aggregate not in AGGREGATES:
            fail("aggregate", f"expected one of {', '.join(AGGREGATES)}")


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
class FidelitySpec:
    """A multi-fidelity study: rungs over the simulated duration, an Optuna
    pruner deciding which trials go on (harness.search.fidelity)."""

    pruner: str = "successive_halving"  # successive_halving | hyperband
    min_duration_s: float = 30.0         # the shortest rung is at least this long
    reduction_factor: int = 3            # each rung 1/rf of the next one's duration

    def steps(self, top_s: float) -> tuple[int, ...]:
        """The rungs' durations in whole seconds, shortest first, the last `top_s`:
        floor(top_s / rf^k) for k = n-1 .. 0, n as large as keeps the shortest at
        least min_duration_s. Optuna's successive halving decides rung i at step
        min_resource x rf^i: with min_resource the first step, floor keeps every
        step at or past its rung's and short of the next one's."""
        rf, n = self.reduction_factor, 1
        while top_s / rf ** n >= self.min_duration_s:
            n += 1
        return tuple(int(top_s / rf ** k) for k in range(n - 1, -1, -1))


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
    per_workload_trials: int = 0  # each workload's own study (regret); 0 = none
    constraints: tuple[tuple[str, float], ...] = ()  # (name in CONSTRAINTS, bound)
    schedule: str = "generations"
    generation_size: int = 8
    top_k: int = 5  # trials re-evaluated on the holdout seeds before choosing
    fidelity: FidelitySpec | None = None  # rungs over duration_s; None = every trial in full
    # The baselines run beside the RFC defaults and the oracle as a normalized
    # study's references (and shown in its headline).
    baselines: tuple[str, ...] = BASELINES

    @property
    def bounds(self) -> dict[str, float]:
        return dict(self.constraints)

    @property
    def normalized(self) -> bool:
        """Whether the study needs the suite's reference runs (a derived metric or a guard)."""
        return bool(self.constraints) or any(o.metric in DERIVED_METRICS
                                             for o in self.objectives)

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

    def only(self, workload: str) -> Experiment:
        """This experiment with one suite workload (a per-workload study)."""
        return dataclasses.replace(self, suite={workload: self.suite[workload]}, _cache={})

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
        cfg = resolve_paths(cfg, self.base_dir)
        if len(self._cache) < 4096:
            self._cache[key] = cfg
        return cfg

    @property
    def top_duration_s(self) -> float:
        """The longest workload's simulated seconds (first seed, base knobs): a
        multi-fidelity study's top rung."""
        return max(self.run_config(w, self.seeds[0]).duration_s for w in self.workloads)

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
            if self.study.constraints:
                body["constraints"] = list(self.study.constraints)
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
                            "enqueue_default": st.enqueue_default,
                            "constraints": dict(st.constraints), "schedule": st.schedule,
                            "generation_size": st.generation_size, "top_k": st.top_k}
            if st.fidelity is not None:  # absent otherwise: older run directories match
                out["study"]["fidelity"] = dict(st.fidelity.__dict__)
            if st.baselines != StudySpec.baselines:
                out["study"]["baselines"] = list(st.baselines)
        return out
