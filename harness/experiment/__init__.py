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

- ``space``: search spaces (Param);
- ``spec``: the spec (Experiment, SweepSpec, StudySpec, DEFAULT_LABEL);
- ``load``: ``load_experiment``, the file's typed sections.
"""

from harness.experiment.load import flatten, load_experiment
from harness.experiment.space import Param, parse_param, parse_space
from harness.experiment.spec import (
    AGGREGATES,
    BASELINES,
    DEFAULT_LABEL,
    PRUNERS,
    SAMPLERS,
    Experiment,
    Objective,
    Point,
    PrunerSpec,
    StudySpec,
    SweepSpec,
    get_path,
)

__all__ = [
    "AGGREGATES", "BASELINES", "DEFAULT_LABEL", "PRUNERS", "SAMPLERS", "Experiment", "Objective", "Param",
    "Point", "PrunerSpec", "StudySpec", "SweepSpec", "flatten", "get_path", "load_experiment",
    "parse_param", "parse_space",
]
