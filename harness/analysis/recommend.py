"""The recommended kmmscand knob values of a run, with evidence.

The recommendation is one evaluated point of the run:

* a study (tune run with an Optuna journal, one objective): the trial its
  choice on the holdout seeds picked (summary.json ``choice``,
  harness.search.holdout), else its best trial;
* otherwise (sweep, compare, multi-objective study): the kmmscand point with
  the highest mean objective (mean over workloads of the means over seeds)
  among those evaluated on every workload and seed of the run.

Its output (``defaults.yaml``, ``defaults.sh``) is written by
``harness.report.defaults_out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.analysis.points import (
    knob_name,
    param_columns,
    points_table,
    reference_suite,
    varying_params,
    with_points,
)
from harness.analysis.runs import RunData, study_name
from harness.analysis.stats import mean_ci, paired
from harness.analysis.study_tables import load_study
from harness.errors import InputError
from harness.experiment import DEFAULT_LABEL
from harness.experiment.spec import TUNED
from harness.run.store.layout import TRIALS

# Not knobs: they choose the policy and the patch version being simulated.
NOT_KNOBS = ("policy.kind", "policy.version")


def rfc_default(key: str, version: str) -> Any:
    """The patch version's default of a policy knob (None for non-policy keys)."""
    from harness.config import PolicyConfig

    if not key.startswith("policy."):
        return None
    field_name = key.split(".", 1)[1]
    try:
        return getattr(PolicyConfig(kind="kmmscand", version=version), field_name)
    except (AttributeError, TypeError, ValueError):
        return None


def plain(v: Any) -> Any:
    """numpy/pandas scalars -> plain Python (for YAML); integral floats -> int; NaN -> None."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if v.is_integer():
            return int(v)
    return v


@dataclass
class Recommendation:
    run: str
    mode: str
    point: str
    label: str
    version: str
    selected_by: str
    knobs: dict[str, Any]  # recommended values of the knobs varied in the run
    evidence: pd.DataFrame  # per workload, recommendation vs RFC defaults
    trial: int | None = None
    notes: list[str] = field(default_factory=list)
    # Every knob the point set (policy.version included): the overrides that reproduce it.
    params: dict[str, Any] = field(default_factory=dict)
    evidence_point: str = ""  # the point whose rows are the evidence (a comparison's)
    base_version: str = ""    # the patch version of the run's rfc-default evaluations

    def regret(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per workload: own best, this recommendation and the RFC defaults, with
        regret and intervals (analysis.regret), from the run's comparison rows."""
        from harness.analysis.regret import regret_from_trials

        return regret_from_trials(df, self.evidence_point)

    def summary(self) -> dict[str, float]:
        """Means over workloads on the suite's seeds (holdout seeds have their own rows)."""
        e = self.evidence[self.evidence["seeds"] != "holdout"]
        out = {"objective": float(e["objective"].mean()),
               "hit_rate": float(e["hit_rate"].mean())}
        if "objective_rfc" in e and e["objective_rfc"].notna().all():
            out["objective_rfc"] = float(e["objective_rfc"].mean())
            out["hit_rate_rfc"] = float(e["hit_rate_rfc"].mean())
        return out


def _study_best(run: RunData, df: pd.DataFrame) -> tuple[str, int] | None:
    """The point of a single-objective study's best trial, if the run has one."""
    if run.journal is None or "trial" not in df.columns:
        return None
    from harness.analysis.headline import read_summary

    rec = (read_summary(run.path).get("choice") or {}).get("recommendation")
    if rec:  # chosen on the holdout seeds among the study's top trials
        rows = df[(df["trial"] == int(rec["trial"])) & (df["mode"] == "tune")]
        if len(rows):
            return str(rows["point"].iloc[0]), int(rec["trial"])
    study = load_study(run.journal, study_name(run.manifest))
    if len(study.directions) != 1:
        return None
    try:
        best = study.best_trial
    except ValueError:  # no completed trial
        return None
    rows = df[(df["trial"] == best.number) & (df["mode"] == "tune")]
    if rows.empty:
        return None
    return str(rows["point"].iloc[0]), best.number


def recommend(run: RunData) -> Recommendation:
    df = with_points(run.trials)
    pts = points_table(df)
    kmm = pts[(pts["policy"] == "kmmscand")]
    if kmm.empty:
        raise InputError(f"{run.path / TRIALS}: no kmmscand evaluations; nothing to "
                         "recommend (run a sweep, tune or compare first)")
    picked = _study_best(run, df)
    if picked is not None:
        point, trial = picked
        from harness.analysis.headline import read_summary

        how = (read_summary(run.path).get("choice") or {}).get("selected_by")
        selected_by = (f"trial #{trial}: {how}" if how else
                       f"best trial #{trial} of the Optuna study (its aggregate over the suite)")
    else:
        full = kmm[kmm["complete"]]
        if full.empty:
            raise InputError(f"{run.path / TRIALS}: no kmmscand point was evaluated on every "
                             "workload and seed; nothing to recommend")
        best = full.sort_values(["objective", "point"], ascending=[False, True]).iloc[0]
        point, trial = str(best["point"]), None
        selected_by = ("highest mean objective over the suite (mean over workloads of the "
                       "means over seeds) among complete kmmscand points")
    rows = df[df["point"] == point]
    if trial is None and "trial" in rows.columns and rows["trial"].nunique() == 1 \
            and rows["mode"].iloc[0] == "tune":
        trial = int(rows["trial"].iloc[0])
    version = str(rows["version"].iloc[0]) if "version" in rows.columns else "v1"
    knobs = {}
    kmm_rows = df[df["policy"] == "kmmscand"]
    for col in varying_params(kmm_rows) or param_columns(kmm_rows):
        key = knob_name(col)
        if key in NOT_KNOBS:
            continue
        v = rows[col].dropna()
        knobs[key] = plain(v.iloc[0]) if len(v) else rfc_default(key, version)
    # Evidence: the study's final comparison ("tuned", same trial, compare mode) also ran
    # holdout seeds; prefer it to the trial's own rows.
    evidence_point = point
    if trial is not None and "trial" in df.columns:
        again = df[(df["label"] == TUNED) & (df["mode"] == "compare") & (df["trial"] == trial)]
        if len(again):
            evidence_point = str(again["point"].iloc[0])
    suite_seeds = {s for _, s in reference_suite(df)}
    rec = Recommendation(run=run.name, mode=str(rows["mode"].iloc[0]), point=point,
                         label=str(rows["label"].iloc[0]), version=version,
                         selected_by=selected_by, knobs=knobs,
                         evidence=evidence_table(df, evidence_point, suite_seeds), trial=trial,
                         evidence_point=evidence_point,
                         base_version=_base_version(df))
    for col in param_columns(rows):
        v = rows[col].dropna()
        if len(v):
            rec.params[knob_name(col)] = plain(v.iloc[0])
    if evidence_point != point:
        rec.notes.append(f"evidence from the study's final comparison ({evidence_point!r}: "
                         "the same knobs, also on holdout seeds)")
    if DEFAULT_LABEL not in set(df["label"]):
        rec.notes.append(f"the run has no {DEFAULT_LABEL} evaluations: evidence shows the "
                         "recommendation only (sweeps and studies add them by default)")
    return rec


def _base_version(df: pd.DataFrame) -> str:
    """The version of the run's rfc-default evaluations ("" without any)."""
    rfc = df[df["label"] == DEFAULT_LABEL]
    return str(rfc["version"].iloc[0]) if len(rfc) and "version" in rfc.columns else ""


def _rfc_rows(df: pd.DataFrame, mode: str) -> pd.DataFrame:
    """RFC-default rows, one per (workload, seed): those of `mode` first."""
    rfc = df[df["label"] == DEFAULT_LABEL]
    if rfc.empty:
        return rfc
    rank = (rfc["mode"] != mode).astype(int)
    rfc = rfc.assign(_r=rank).sort_values(["_r", "eval_id"], kind="stable")
    return rfc.drop_duplicates(["workload", "seed"]).drop(columns="_r")


def evidence_table(df: pd.DataFrame, point: str, suite_seeds: set | None = None) -> pd.DataFrame:
    """Per seed group and workload: mean over seeds of objective, hit rate and cost of
    `point` and of the RFC defaults, on the seeds both were run with. Seed groups:
    ``study`` (the suite's seeds) and ``holdout`` (seeds only the final comparison ran)
    when there are holdout seeds, else ``all``."""
    rec = df[df["point"] == point]
    rfc = _rfc_rows(df, str(rec["mode"].iloc[0]))
    seeds_rec = set(rec["seed"].astype(int))
    suite_seeds = seeds_rec if suite_seeds is None else {int(s) for s in suite_seeds}
    holdout = sorted(seeds_rec - suite_seeds)
    groups = [("study", sorted(seeds_rec & suite_seeds)), ("holdout", holdout)] if holdout \
        else [("all", sorted(seeds_rec))]
    rows = []
    for gname, gseeds in groups:
        for w in dict.fromkeys(df["workload"]):
            a = rec[(rec["workload"] == w) & rec["seed"].isin(gseeds)]
            if a.empty:
                continue
            b = rfc[(rfc["workload"] == w) & rfc["seed"].isin(gseeds)]
            seeds = sorted(set(a["seed"]) & set(b["seed"])) if len(b) else sorted(set(a["seed"]))
            a = a[a["seed"].isin(seeds)]
            b = b[b["seed"].isin(seeds)]
            row = {"seeds": gname, "workload": w, "n_seeds": len(seeds),
                   "objective": a["objective"].mean(), "hit_rate": a["hit_rate"].mean(),
                   "cost_cpu_s": a["cost_cpu_s"].mean(),
                   "objective_rfc": b["objective"].mean() if len(b) else math.nan,
                   "hit_rate_rfc": b["hit_rate"].mean() if len(b) else math.nan,
                   "cost_cpu_s_rfc": b["cost_cpu_s"].mean() if len(b) else math.nan}
            # 95% t intervals over the seeds; the difference paired by seed.
            va = a.groupby("seed")["objective"].mean()
            _, row["objective_lo"], row["objective_hi"] = mean_ci(va)
            if len(b):
                vb = b.groupby("seed")["objective"].mean()
                _, row["objective_rfc_lo"], row["objective_rfc_hi"] = mean_ci(vb)
                row.update(paired(va.loc[seeds].to_numpy(), vb.loc[seeds].to_numpy()))
            rows.append(row)
    return pd.DataFrame(rows)
