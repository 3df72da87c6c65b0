"""Every trial of a study as a point in normalized units: the trade-off.

One row per complete trial and workload (``per_workload``: gain_share,
cost_rel, hit rate, CPU) and one per trial over the suite (``suite``: the
means over workloads), with feasibility (the trial's Optuna constraints) and
whether the trial is on the front (higher gain share, lower relative cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.analysis.normalize import front, knee
from harness.analysis.runs import RunData, study_name
from harness.analysis.study_tables import load_study


@dataclass
class TrialPoints:
    suite: pd.DataFrame         # trial, gain_share, cost_rel, hit_rate, cpu_percent, feasible, front
    per_workload: pd.DataFrame  # trial, workload, gain_share, cost_rel, hit_rate, cpu_percent
    knee: int | None            # trial number of the feasible front's knee


def trial_points(run: RunData) -> TrialPoints | None:
    """None without a journal or without normalized per-workload values."""
    from optuna.trial import TrialState

    if run.journal is None:
        return None
    study = load_study(run.journal, study_name(run.manifest))
    rows = []
    for t in study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]):
        per = t.user_attrs.get("per_workload", {})
        if "gain_share" not in per:
            continue
        ok = all(v <= 0 for v in t.constraints.values())
        for w in per["gain_share"]:
            rows.append({"trial": t.number, "workload": w, "feasible": ok,
                         **{m: per[m][w] for m in ("gain_share", "cost_rel", "hit_rate",
                                                   "cpu_percent") if m in per}})
    if not rows:
        return None
    pw = pd.DataFrame(rows)
    suite = pw.groupby("trial").agg(gain_share=("gain_share", "mean"),
                                    cost_rel=("cost_rel", "mean"),
                                    hit_rate=("hit_rate", "mean"),
                                    cpu_percent=("cpu_percent", "mean"),
                                    feasible=("feasible", "first")).reset_index()
    fr = front(suite.set_index("trial"))
    suite["front"] = suite["trial"].isin(fr.index)
    ffr = front(suite[suite["feasible"]].set_index("trial"))
    return TrialPoints(suite, pw, knee(ffr))


def marks(run: RunData, tp: TrialPoints) -> pd.DataFrame:
    """Named points of the trade-off, per workload and over the suite ("[suite]"):
    the RFC defaults and the oracle (reference runs on the study seeds), the
    recommendation and the knee (their trials), the kernel-settable
    recommendation (its holdout-seed runs)."""
    from harness.analysis.headline import read_summary
    from harness.analysis.normalize import References

    summary = read_summary(run.path)
    choice = summary.get("choice") or {}
    rows = []

    def add(name: str, d: pd.DataFrame) -> None:
        if d.empty:
            return
        m = d.groupby("workload")[["gain_share", "cost_rel"]].mean()
        for w, r in m.iterrows():
            rows.append({"name": name, "workload": w, **r.to_dict()})
        rows.append({"name": name, "workload": "[suite]", **m.mean().to_dict()})

    if summary.get("references"):
        refs = References.from_records(summary["references"])
        t = run.trials
        comp = t[t["mode"] == "compare"]
        study_seeds = set(t.loc[t["mode"] == "tune", "seed"])
        for label, name in (("rfc-default", "RFC defaults"), ("oracle", "oracle")):
            d = comp[(comp["label"] == label) & comp["seed"].isin(study_seeds)]
            add(name, refs.derive_frame(d))
        k = choice.get("kernel")
        if k:
            d = t[t["eval_id"].str.contains(f"/holdout/k{int(k['trial']):05d}/", regex=False)]
            add("kernel-settable", refs.derive_frame(d))
    pw = tp.per_workload
    for name, n in (("recommended", (choice.get("recommendation") or {}).get("trial")),
                    ("knee", tp.knee)):
        if n is not None:
            add(name, pw[pw["trial"] == int(n)])
    return pd.DataFrame(rows, columns=["name", "workload", "gain_share", "cost_rel"])
