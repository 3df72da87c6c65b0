"""The Python API: what the commands do, for a notebook or a script.

    from harness import load_experiment, tune, Results

    exp = load_experiment("configs/mixed-suite.yaml")
    tune(exp, "results/mixed-suite", cpus=2)      # the study, as `tiersweep tune`
    res = Results("results/mixed-suite")
    res.best.knobs                                 # the recommended knob values
    res.regret                                     # per workload, 95% intervals
    res.figures()["6-regret"]                      # a matplotlib Figure

Runs take a backend by name: local Ray ("ray", the default; `address` for a
cluster) or "inline" (in-process, one at a time). The run directory, its lock
and its files are the same as the commands'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.points import points_table, with_points
from harness.analysis.recommend import Recommendation, recommend
from harness.analysis.runs import RunData, load_run
from harness.config import RunConfig, load_config
from harness.experiment import Experiment, load_experiment
from harness.model import RunResult, simulate
from harness.run.backends import make_backend
from harness.run.store import RunLock
from harness.run.store.layout import default_run_dir
from harness.search.compare import CompareReport, run_compare, tuned_from
from harness.search.study import StudyReport, run_study
from harness.search.sweep import SweepReport, run_sweep

__all__ = ["Experiment", "Results", "RunConfig", "RunResult", "compare", "load_config",
           "load_experiment", "simulate", "sweep", "tune"]


def _experiment(exp: Experiment | str | Path) -> Experiment:
    return exp if isinstance(exp, Experiment) else load_experiment(exp)


def _out(exp: Experiment, out: str | Path | None) -> Path:
    return Path(out) if out is not None else default_run_dir(exp.name)


def sweep(experiment: Experiment | str | Path, out: str | Path | None = None, *,
          backend: str = "ray", address: str | None = None, cpus: int | None = None,
          progress: bool = False) -> SweepReport:
    """`tiersweep sweep`: the experiment's grid / sample into `out` (resumable)."""
    exp = _experiment(experiment)
    out = _out(exp, out)
    with RunLock(out), make_backend(backend, address=address, cpus=cpus) as b:
        return run_sweep(exp, out, b, progress=progress)


def tune(experiment: Experiment | str | Path, out: str | Path | None = None, *,
         trials: int | None = None, timeout_s: float | None = None, storage: str | None = None,
         compare: bool = True, backend: str = "ray", address: str | None = None,
         cpus: int | None = None, progress: bool = False) -> StudyReport:
    """`tiersweep tune`: the Optuna study (resumed if `out` holds it), the
    per-workload studies and the final comparison."""
    exp = _experiment(experiment)
    out = _out(exp, out)
    with RunLock(out), make_backend(backend, address=address, cpus=cpus) as b:
        return run_study(exp, out, b, trials=trials, timeout_s=timeout_s, storage=storage,
                         progress=progress, compare=compare)


def compare(experiment: Experiment | str | Path, out: str | Path | None = None, *,
            policies: list[str] | None = None, tuned: str | Path | None = None,
            backend: str = "ray", address: str | None = None, cpus: int | None = None,
            progress: bool = False) -> CompareReport:
    """`tiersweep compare`: the policies side by side; `tuned` names a tuning run
    whose recommendation runs as the `tuned` policy."""
    exp = _experiment(experiment)
    out = _out(exp, out)
    tuned_knobs = tuned_from(tuned) if tuned is not None else None
    with RunLock(out), make_backend(backend, address=address, cpus=cpus) as b:
        return run_compare(exp, out, b, policies=policies, tuned=tuned_knobs, progress=progress)


@dataclass
class Results:
    """A results directory, read: its tables, the recommendation, the regret and
    the report's figures (nothing is written)."""

    path: str | Path
    _run: RunData = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._run = load_run(self.path)

    @cached_property
    def trials(self) -> pd.DataFrame:
        """One row per evaluation (the per-workload studies' rows are in `own`),
        with its point's name."""
        return with_points(self._run.trials)

    @property
    def own(self) -> pd.DataFrame:
        return self._run.own

    @property
    def timeseries(self) -> pd.DataFrame | None:
        return self._run.timeseries

    @cached_property
    def points(self) -> pd.DataFrame:
        """One row per configuration: means over the suite, whether it covers it."""
        return points_table(self.trials)

    @cached_property
    def best(self) -> Recommendation:
        """What `tiersweep defaults` recommends (knobs, version, evidence)."""
        return recommend(self._run)

    @property
    def comparison(self) -> pd.DataFrame:
        """Per workload: the recommendation against the RFC defaults, paired by
        seed, with 95% intervals and a verdict."""
        return self.best.evidence

    @cached_property
    def regret(self) -> pd.DataFrame:
        """Per workload: own best, recommendation, RFC defaults, regret, intervals."""
        return self.best.regret(self.trials)

    @cached_property
    def study(self):
        """The run's Optuna study (None for a sweep or a comparison)."""
        from harness.analysis.study_tables import find_study

        return find_study(self._run, None)

    def figures(self) -> dict[str, Any]:
        """The report's figures (matplotlib Figures) by key, e.g. "6-regret"."""
        from harness.report.figures import build_figures

        return {f.key: f.fig for f in build_figures(self._run, self.study, progress=False)
                if f.fig is not None}
