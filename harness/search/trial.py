"""A study trial in flight: its evaluations, the rows that came in, its suite values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.experiment import Experiment
from harness.run.worker import Evaluation, eval_id
from harness.search.aggregate import aggregate, per_workload


@dataclass
class TrialRun:
    """One trial in flight: its evaluations and the rows already in."""

    trial: Any
    number: int
    root: int
    label: str
    params: dict
    evals: list[Evaluation]
    rows: dict[str, dict] = field(default_factory=dict)
    reported: int = 0
    rung: int = 0  # a multi-fidelity study's rung (evals are that rung's)
    full: list[Evaluation] = field(default_factory=list)  # the top rung's evaluations

    def add(self, ev: Evaluation, row: dict) -> None:
        self.rows[ev.eval_id] = row

    @property
    def complete(self) -> bool:
        return len(self.rows) == len(self.evals)

    def values(self, metric: str, workloads: list[str]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {w: [] for w in workloads}
        for ev in self.evals:
            row = self.rows.get(ev.eval_id)
            if row is not None and ev.workload in out:
                out[ev.workload].append(float(row.get(metric, float("nan"))))
        return out

    def workload_done(self, w: str, n_seeds: int) -> bool:
        return sum(1 for ev in self.evals if ev.workload == w and ev.eval_id in self.rows) \
            == n_seeds


def trial_evaluations(exp: Experiment, number: int, root: int, label: str,
                      params: dict, seeds=None, mode: str = "tune") -> list[Evaluation]:
    """A trial's evaluations; `mode` "own" for a per-workload study's (its
    trial numbers restart at 0: the mode and the workload keep ids apart)."""
    evals = []
    for w in exp.workloads:
        for s in seeds or exp.seeds:
            evals.append(Evaluation(
                eval_id=eval_id(exp.name, mode, f"t{root:05d}", w, s),
                cfg=exp.run_config(w, s, params), run=exp.name, mode=mode, trial=number,
                label=label, workload=w, seed=s, params=dict(params), group=number))
    return evals


def suite_values(exp: Experiment, per_wl: dict[str, dict[str, list[float]]]) -> list[float]:
    st = exp.study
    return [aggregate([per_workload(per_wl[o.metric])[w] for w in exp.workloads], o.aggregate,
                      o.direction, st.gmean_shift) for o in st.objectives]
