"""Sweeps: every point of a grid / random sample x every workload x every seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.experiment import DEFAULT_LABEL, Experiment
from harness.run.backends import Backend
from harness.run.runner import Outcome, run_recorded
from harness.run.store import RunLock, start_manifest
from harness.run.worker import Evaluation, eval_id
from harness.search.aggregate import suite_value


def sweep_evaluations(exp: Experiment) -> list[Evaluation]:
    evals = []
    for pt in exp.sweep_points():
        key = "default" if pt.label == DEFAULT_LABEL else pt.label
        for w in exp.workloads:
            for s in exp.seeds:
                evals.append(Evaluation(
                    eval_id=eval_id(exp.name, "sweep", key, w, s),
                    cfg=exp.run_config(w, s, pt.params), run=exp.name, mode="sweep",
                    trial=pt.index, label=pt.label, workload=w, seed=s, params=dict(pt.params)))
    return evals


@dataclass
class SweepReport:
    out_dir: Path
    outcome: Outcome
    summary: pd.DataFrame  # one row per point: params and aggregated metric


def run_sweep(exp: Experiment, out_dir: str | Path, backend: Backend, *, progress: bool = True,
              command: list[str] | None = None, metric: str = "objective",
              aggregate: str = "mean") -> SweepReport:
    out = Path(out_dir)
    evals = sweep_evaluations(exp)
    with RunLock.reuse(out):
        manifest = start_manifest(out, mode="sweep", fingerprint=exp.fingerprint("sweep"),
                                  experiment=exp.describe(), command=command,
                                  extra={"backend": backend.describe(),
                                         "evaluations": len(evals)})
        outcome = run_recorded(evals, out, manifest, backend, run=exp.name, mode="sweep",
                               progress=progress)
    return SweepReport(out, outcome, point_table(outcome.table, exp, metric, aggregate))


def point_table(table: pd.DataFrame, exp: Experiment, metric: str = "objective",
              aggregate: str = "mean") -> pd.DataFrame:
    """Per point: the metric aggregated over the suite (mean over seeds per workload)."""
    if table.empty or metric not in table:
        return pd.DataFrame()
    rows = []
    pcols = [c for c in table.columns if c.startswith("param.")]
    for (trial, label), g in table.groupby(["trial", "label"], sort=True):
        vals = {w: list(gw[metric]) for w, gw in g.groupby("workload")}
        order = [w for w in exp.workloads if w in vals]
        complete = len(g) == len(exp.workloads) * len(exp.seeds)
        row = {"trial": trial, "label": label, "evaluations": len(g), "complete": complete}
        for c in pcols:
            v = g[c].iloc[0]
            row[c[len("param."):]] = v
        row[f"{metric} ({aggregate})"] = suite_value(vals, order, aggregate)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(f"{metric} ({aggregate})", ascending=False,
                                          kind="stable")
