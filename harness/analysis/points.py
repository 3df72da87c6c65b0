"""Points: the configurations of a run, their names, means and legend order.

Vocabulary:

* an *evaluation* is one row of ``trials.parquet``: one configuration on one
  workload with one seed;
* a *point* is one configuration: the rows sharing a ``label``, a ``policy``
  and the values of every knob that varies in the run. Its figures are means
  over the workloads and seeds it was evaluated on;
* the *series* of a row is its point's display name (the label when the label
  names one point). Colours are keyed by series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.experiment.spec import NAMED_LABELS, TUNED
from harness.run.worker import PARAM_PREFIX

METRICS = ["hit_rate", "cost_cpu_s", "objective", "cost_cpu_pct"]

UNSET = "<unset>"  # a knob a point does not set (NaN would vanish from groupby keys)


# -------------------------------------------------------------------- knobs


def param_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(PARAM_PREFIX)]


def varying_params(df: pd.DataFrame) -> list[str]:
    """Knob columns with more than one distinct value among the rows that set them."""
    return [c for c in param_columns(df) if df[c].dropna().nunique() > 1]


def knob_name(col: str) -> str:
    """``param.policy.scan_size_mb`` -> ``policy.scan_size_mb``."""
    return col[len(PARAM_PREFIX):] if col.startswith(PARAM_PREFIX) else col


def format_value(v: Any) -> str:
    """A knob value as point names and axis ticks show it: integral floats as ints."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ------------------------------------------------------------------- points


def _key_frame(df: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """Grouping keys of points; NaN knob values become a sentinel so groupby keeps them."""
    knobs = varying_params(df)
    keys = ["mode", "label", "policy", *knobs]
    kf = df[keys].astype(object).where(df[keys].notna(), UNSET)
    return keys, kf


_MODE_PREF = {"compare": 0, "sweep": 1, "tune": 2}


def _name_points(pts: pd.DataFrame, knobs: list[str]) -> list[str]:
    """Display names: the label when it names one point; else the label for the point
    of the preferred mode (compare, then sweep, then tune) and a suffix for the others
    (``rfc-default (tune #0)``, or the knob values)."""
    names: list[str] = [""] * len(pts)
    for _, grp in pts.groupby("label", sort=False):
        order = sorted(grp.index, key=lambda i: (_MODE_PREF.get(pts.at[i, "mode"], 9), i))
        names[order[0]] = str(pts.at[order[0], "label"])
        for i in order[1:]:
            row = pts.loc[i]
            if row.get("trial_unique", False) and row["trial"] >= 0:
                suffix = f"{row['mode']} #{int(row['trial'])}"
            else:
                parts = [f"{knob_name(k).rsplit('.', 1)[-1]}={format_value(row[k])}"
                         for k in knobs if row[k] != UNSET]
                suffix = ", ".join([str(row["mode"]), *parts])
            names[i] = f"{row['label']} ({suffix})"
    seen: dict[str, int] = {}
    out = []
    for n in names:  # still ambiguous (should not happen): number them
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} [{seen[n]}]")
    return out


def with_points(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table with a ``point`` column: the display name of each row's point."""
    keys, kf = _key_frame(df)
    gid = kf.groupby(keys, sort=False, dropna=False).ngroup()
    firsts = kf.groupby(gid, sort=False).first()
    firsts["label"] = df.groupby(gid, sort=False)["label"].first()
    if "trial" in df.columns:
        t = df.groupby(gid, sort=False)["trial"]
        firsts["trial"] = t.first()
        firsts["trial_unique"] = t.nunique(dropna=False) == 1
    names = _name_points(firsts.reset_index(drop=True), keys[3:])
    out = df.copy()
    out["point"] = [names[g] for g in gid]
    if "duration_s" in out.columns and "cost_cpu_s" in out.columns:
        # What a kernel developer reads: the CPU time as a share of one CPU over the run.
        out["cost_cpu_pct"] = 100.0 * out["cost_cpu_s"] / out["duration_s"]
    return out


def reference_suite(df: pd.DataFrame) -> set[tuple[str, int]]:
    """The (workload, seed) pairs points are compared on: those every mode of the run
    evaluated (sweep, tune, compare). A study's final comparison also runs holdout
    seeds its trials never saw; they stay out of the comparison figures so that
    every point is measured on the same seeds. If the modes share no pair, the
    pairs of the mode with the most evaluations."""
    suites = {m: set(zip(x["workload"], x["seed"].astype(int), strict=True))
              for m, x in df.groupby("mode", sort=True)}
    common = set.intersection(*suites.values())
    if common:
        return common
    counts = df["mode"].value_counts()
    return suites[sorted(counts[counts == counts.max()].index)[0]]


def in_suite(df: pd.DataFrame, suite: set[tuple[str, int]] | None = None) -> pd.DataFrame:
    """Rows whose (workload, seed) pair belongs to the reference suite."""
    suite = reference_suite(df) if suite is None else suite
    keep = [(w, int(s)) in suite for w, s in zip(df["workload"], df["seed"], strict=True)]
    return df[np.asarray(keep, dtype=bool)]


def points_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per point: means over its workloads and seeds, and whether it covers the suite.

    Columns: point, mode, label, policy, n_evals, n_workloads, n_seeds, hit_rate,
    hit_rate_sd, cost_cpu_s, cost_cpu_s_sd, objective, objective_sd, complete,
    then the point's knob values (``param.*`` columns, first value). Only rows of
    the reference suite count (see reference_suite); means are over workloads
    of the means over seeds; sd is over all the point's rows.
    """
    if "point" not in df.columns:
        df = with_points(df)
    suite = reference_suite(df)
    df = in_suite(df, suite)
    g = df.groupby("point", sort=False)
    # Mean over seeds per workload, then over workloads (as the study aggregates).
    metrics = [m for m in METRICS if m in df.columns]
    pw = df.groupby(["point", "workload"], sort=False)[metrics].mean()
    suite_mean = pw.groupby(level="point", sort=False).mean()
    names = list(g.groups.keys())
    pts = pd.DataFrame({
        "point": names,
        "mode": g["mode"].first().to_numpy(),
        "label": g["label"].first().to_numpy(),
        "policy": g["policy"].first().to_numpy(),
        "n_evals": g.size().to_numpy(),
        "n_workloads": g["workload"].nunique().to_numpy(),
        "n_seeds": g["seed"].nunique().to_numpy(),
    })
    for m in metrics:
        pts[m] = suite_mean.loc[names, m].to_numpy()
        pts[f"{m}_sd"] = g[m].std().to_numpy()
    cover = g.apply(lambda x: set(zip(x["workload"], x["seed"].astype(int), strict=True))
                    >= suite, include_groups=False)
    pts["complete"] = cover.to_numpy()
    for c in param_columns(df):
        pts[c] = g[c].first().to_numpy()
    return pts.reset_index(drop=True)


def rank_points(pts: pd.DataFrame) -> pd.DataFrame:
    """Points in legend order: named labels first (NAMED_LABELS order), then the
    others by mean objective, best first (complete points before incomplete)."""
    order = {lab: i for i, lab in enumerate(NAMED_LABELS)}
    key = pd.DataFrame({
        "named": pts["point"].map(lambda x: order.get(x, len(order))),
        "incomplete": ~pts["complete"],
        "neg_obj": -pts["objective"],
        "point": pts["point"],
    })
    idx = key.sort_values(["named", "incomplete", "neg_obj", "point"]).index
    return pts.loc[idx].reset_index(drop=True)


def highlighted_points(pts: pd.DataFrame, extra: int = 3) -> list[str]:
    """Series shown in colour: every named label plus the best `extra` other complete points."""
    ranked = rank_points(pts)
    is_named = ranked["point"].isin(NAMED_LABELS)
    named = ranked[is_named]["point"].tolist()
    # A study's best trial is the "tuned" point again: do not show the same knobs twice.
    knobs = param_columns(ranked)

    def config(row) -> tuple:
        return (row["policy"], *((UNSET if pd.isna(row[c]) else row[c]) for c in knobs))

    seen = {config(r) for _, r in ranked[is_named].iterrows() if r["point"] == TUNED}
    others = [r["point"] for _, r in ranked[~is_named & ranked["complete"]].iterrows()
              if config(r) not in seen]
    return named + others[:extra]
