"""Reporting a study as it runs and after: the progress bar's note, the live
table of finished trials, the report a finished study returns."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.experiment import StudySpec
from harness.search import _optuna as O


@dataclass
class StudyReport:
    out_dir: Path
    storage: str
    counts: dict[str, int]    # trials per state
    wall_s: float
    best: list[dict]          # best trial(s): number, values, params
    comparison: pd.DataFrame  # per objective x workload: default vs tuned (empty if skipped)
    regret: pd.DataFrame      # per workload: own best, tuned, RFC, regret (analysis.regret)
    importances: dict[str, dict[str, float]]  # per objective metric: knob -> importance
    recovered: list[int]      # trials a dead driver left running (failed and retried)
    evaluations_run: int
    evaluations_reused: int
    trials_wall_s: float      # the trials alone (the comparison excluded)
    rows: int                 # rows in the run directory's trials table
    repaired_journal: bool = False  # a torn last journal record was dropped
    evaluations_identical: int = 0  # an earlier trial's result, the same knobs (not rerun)
    own_evaluations_run: int = 0    # by the per-workload studies (regret)
    # The choice on fresh seeds (harness.search.holdout): recommendation,
    # kernel-settable recommendation, the top-k table; {} without one.
    choice: dict = field(default_factory=dict)
    headline: pd.DataFrame = field(default_factory=pd.DataFrame)  # analysis.headline
    infeasible: int = 0       # complete trials outside the study's constraints
    fidelity: dict = field(default_factory=dict)  # rungs (study.study.fidelity_summary)


def best_postfix(study, st: StudySpec) -> str:
    """The progress bar's note: the best value so far, or the front's size."""
    try:
        b = O.best_trials(study, st)
    except Exception:  # noqa: BLE001 - e.g. no complete trial yet
        return ""
    if not b:
        return ""
    if st.multi:
        return f"pareto {len(b)}"
    return f"best {b[0]['values'][0]:.4g} (t{b[0]['number']})"


class TrialTable:
    """One line per finished trial above the progress bar (a live table on a
    terminal, plain lines in a log): trial, state, value, best so far, knobs."""

    def __init__(self, bar, study, st: StudySpec):
        self.bar, self.study, self.st, self.header_done = bar, study, st, False

    def row(self, number: int, state, values, params: dict, feasible: bool = True) -> None:
        if not self.header_done:
            self.bar.write(f"{'trial':>6} {'state':<9} {'value':>10} {'best':>10}  knobs",
                           file=sys.stderr)
            self.header_done = True
        name = state.name.lower()
        if name == "complete" and not feasible:
            name = "infeasbl"
        val = ("/".join(f"{v:.4g}" for v in values) if state.name == "COMPLETE"
               and values is not None else "-")
        try:
            best = O.best_trials(self.study, self.st)
            best_s = (f"{best[0]['values'][0]:.4g}" if best and not self.st.multi
                      else f"{len(best)} front" if best else "-")
        except Exception:  # noqa: BLE001 - no complete trial yet
            best_s = "-"
        knobs = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())
        self.bar.write(f"{number:>6} {name:<9} {val:>10} {best_s:>10}  {knobs}",
                       file=sys.stderr)
