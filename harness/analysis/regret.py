"""What a shared default costs each workload: regret against the workload's
own best knobs, and the tuned-versus-RFC difference with its interval.

Per workload, on the seeds all three were run with (the final comparison's:
study seeds and holdout seeds): the metric's mean and 95% interval under its
own best knobs (``own-best``: the best trial of its per-workload study), the
tuned shared default and the RFC default; the regret of each default (own best
minus it, in the objective's direction: >= 0 means the default falls short),
absolute and relative to the own best; and the paired difference tuned - RFC
per seed, with its interval and verdict (harness.analysis.stats).
"""

from __future__ import annotations

import math

import pandas as pd

from harness.analysis.stats import WORSE, format_ci, mean_ci, paired
from harness.experiment.spec import DEFAULT_LABEL, OWN_BEST, TUNED


def _per_seed(rows: pd.DataFrame, metric: str) -> pd.Series:
    return rows.groupby("seed")[metric].mean()


def regret_table(own: pd.DataFrame, tuned: pd.DataFrame, rfc: pd.DataFrame,
                 metric: str = "objective", direction: str = "maximize",
                 order: list[str] | None = None) -> pd.DataFrame:
    """One row per workload (in `order`, else in order of first appearance in
    `tuned`). The three frames are evaluation rows (workload, seed, metric); `own`
    may be empty (no per-workload studies): then only the tuned-versus-RFC columns."""
    sign = 1.0 if direction == "maximize" else -1.0
    out = []
    present = set(tuned["workload"])
    for w in [w for w in (order or dict.fromkeys(tuned["workload"])) if w in present]:
        series = {TUNED: _per_seed(tuned[tuned["workload"] == w], metric),
                  DEFAULT_LABEL: _per_seed(rfc[rfc["workload"] == w], metric)}
        if len(own):
            series[OWN_BEST] = _per_seed(own[own["workload"] == w], metric)
        seeds = sorted(set.intersection(*(set(s.index) for s in series.values())))
        if not seeds:
            continue
        v = {k: s.loc[seeds].to_numpy() for k, s in series.items()}
        row: dict = {"workload": w, "metric": metric, "n_seeds": len(seeds)}
        for key, name in ((OWN_BEST, "own_best"), (TUNED, "tuned"), (DEFAULT_LABEL, "rfc")):
            if key in v:
                row[name], row[f"{name}_lo"], row[f"{name}_hi"] = mean_ci(v[key])
        if OWN_BEST in v:
            best = row["own_best"]
            for key, name in ((TUNED, "tuned"), (DEFAULT_LABEL, "rfc")):
                m, lo, hi = mean_ci(sign * (v[OWN_BEST] - v[key]))
                row[f"regret_{name}"], row[f"regret_{name}_lo"], row[f"regret_{name}_hi"] = \
                    m, lo, hi
                row[f"regret_{name}_rel"] = m / abs(best) if best else math.nan
        d = paired(v[TUNED], v[DEFAULT_LABEL], direction)
        row.update({"tuned_minus_rfc": d["diff"], "tuned_minus_rfc_lo": d["diff_lo"],
                    "tuned_minus_rfc_hi": d["diff_hi"], "verdict": d["verdict"]})
        # Flagged: the shared default does worse than the RFC's on this workload
        # (on the mean; the verdict says whether the interval excludes 0).
        row["worse_than_rfc"] = bool(sign * d["diff"] < 0)
        row["significantly_worse"] = d["verdict"] == WORSE
        out.append(row)
    return pd.DataFrame(out)


def regret_from_trials(df: pd.DataFrame, tuned_point: str, metric: str = "objective",
                       direction: str = "maximize") -> pd.DataFrame:
    """The regret table of a run's trials table: the comparison's own-best rows,
    the recommended point's rows and the RFC-default rows of the same mode."""
    tuned = df[df["point"] == tuned_point] if "point" in df.columns else \
        df[df["label"] == TUNED]
    mode = str(tuned["mode"].iloc[0]) if len(tuned) else "compare"
    rfc = df[(df["label"] == DEFAULT_LABEL) & (df["mode"] == mode)]
    if rfc.empty:
        rfc = df[df["label"] == DEFAULT_LABEL].drop_duplicates(["workload", "seed"])
    own = df[(df["label"] == OWN_BEST) & (df["mode"] == "compare")]
    return regret_table(own, tuned, rfc, metric, direction, list(dict.fromkeys(df["workload"])))


def regret_text(t: pd.DataFrame) -> str:
    """The table as `tiersweep defaults` prints it (intervals: 95%, t over seeds)."""
    if t.empty:
        return "(no comparison rows: run tune with its final comparison)"

    cols: dict[str, list] = {"workload": [], "n": []}
    has_own = "own_best" in t.columns
    for _, r in t.iterrows():
        cols["workload"].append(r["workload"] + (" !" if r["worse_than_rfc"] else ""))
        cols["n"].append(int(r["n_seeds"]))
        if has_own:
            cols.setdefault("own best", []).append(format_ci(r["own_best"], r["own_best_lo"],
                                                      r["own_best_hi"]))
        cols.setdefault("tuned", []).append(format_ci(r["tuned"], r["tuned_lo"], r["tuned_hi"]))
        cols.setdefault("RFC", []).append(format_ci(r["rfc"], r["rfc_lo"], r["rfc_hi"]))
        if has_own:
            cols.setdefault("regret tuned", []).append(
                format_ci(r["regret_tuned"], r["regret_tuned_lo"], r["regret_tuned_hi"])
                + f" ({100 * r['regret_tuned_rel']:.0f}%)")
            cols.setdefault("regret RFC", []).append(
                format_ci(r["regret_rfc"], r["regret_rfc_lo"], r["regret_rfc_hi"])
                + f" ({100 * r['regret_rfc_rel']:.0f}%)")
        cols.setdefault("tuned - RFC", []).append(
            format_ci(r["tuned_minus_rfc"], r["tuned_minus_rfc_lo"], r["tuned_minus_rfc_hi"]))
        cols.setdefault("verdict", []).append(r["verdict"])
    return pd.DataFrame(cols).to_string(index=False)
