"""The tables behind the report's figures 1-4 (figure 5's are in study_tables).

Each function takes the results table (with its ``point`` column, see
``points.with_points``) and returns the tidy frame a figure draws; the report
prints the same frames under the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.points import in_suite, varying_params, with_points
from harness.analysis.stats import group_ci
from harness.errors import InputError
from harness.experiment.spec import DEFAULT_LABEL, NAMED_LABELS, NOT_CONTENDERS, TUNED
from harness.run.store.layout import TIMESERIES

# ------------------------------------------------------ 1. policy comparison


def comparison_table(df: pd.DataFrame, series: list[str]) -> pd.DataFrame:
    """Figure 1: per workload and series, mean, sample sd and 95% t interval
    (analysis.stats) over seeds of hit rate (%) and cost (CPU-s)."""
    if "point" not in df.columns:
        df = with_points(df)
    sub = in_suite(df)
    sub = sub[sub["point"].isin(series)]
    g = sub.groupby(["workload", "point"], sort=False)
    hit_ci, cost_ci = group_ci(g["hit_rate"]) * 100, group_ci(g["cost_cpu_s"])
    tab = pd.DataFrame({
        "n_seeds": g["seed"].nunique(),
        "hit_rate_pct": g["hit_rate"].mean() * 100,
        "hit_rate_sd_pct": g["hit_rate"].std() * 100,
        "hit_rate_lo_pct": hit_ci["lo"], "hit_rate_hi_pct": hit_ci["hi"],
        "cost_cpu_s": g["cost_cpu_s"].mean(),
        "cost_cpu_s_sd": g["cost_cpu_s"].std(),
        "cost_cpu_s_lo": cost_ci["lo"], "cost_cpu_s_hi": cost_ci["hi"],
        "objective": g["objective"].mean(),
    })
    if "cost_cpu_pct" in sub.columns:
        pct_ci = group_ci(g["cost_cpu_pct"])
        tab["cost_cpu_pct"] = g["cost_cpu_pct"].mean()
        tab["cost_cpu_pct_lo"], tab["cost_cpu_pct_hi"] = pct_ci["lo"], pct_ci["hi"]
    tab = tab.reset_index().rename(columns={"point": "series"})
    wl = list(dict.fromkeys(df["workload"]))
    tab["_w"] = tab["workload"].map(wl.index)
    tab["_s"] = tab["series"].map(series.index)
    return tab.sort_values(["_w", "_s"]).drop(columns=["_w", "_s"]).reset_index(drop=True)


def comparison_seeds(df: pd.DataFrame, series: list[str]) -> pd.DataFrame:
    """Figure 1's dots: one row per evaluation of a series on the suite (table order):
    workload, series, seed, hit_rate_pct, cost_cpu_s."""
    if "point" not in df.columns:
        df = with_points(df)
    sub = in_suite(df)
    sub = sub[sub["point"].isin(series)]
    out = pd.DataFrame({"workload": sub["workload"], "series": sub["point"],
                        "seed": sub["seed"], "hit_rate_pct": sub["hit_rate"] * 100.0,
                        "cost_cpu_s": sub["cost_cpu_s"]})
    if "cost_cpu_pct" in sub.columns:
        out["cost_cpu_pct"] = sub["cost_cpu_pct"]
    return out.reset_index(drop=True)


# ------------------------------------------------------------ 2. Pareto front


def pareto_mask(cost: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Points no other point dominates (lower or equal cost and higher or equal hit
    rate, one of them strictly). Equal duplicates are all kept. NaN is never on it."""
    cost = np.asarray(cost, dtype=float)
    hit = np.asarray(hit, dtype=float)
    ok = ~(np.isnan(cost) | np.isnan(hit))
    mask = np.zeros(len(cost), dtype=bool)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((-hit[idx], cost[idx]))]  # cost ascending, then hit descending
    best_hit = -math.inf
    best_cost = math.nan
    for i in order:
        if hit[i] > best_hit:
            mask[i] = True
            best_hit, best_cost = hit[i], cost[i]
        elif hit[i] == best_hit and cost[i] == best_cost:
            mask[i] = True
    return mask


def suite_mean_ci(df: pd.DataFrame, metric: str, scale: float = 1.0) -> pd.DataFrame:
    """Per point: the 95% t interval over seeds of the suite mean (the mean over
    workloads at each seed), columns ``point``, ``lo``, ``hi``."""
    if "point" not in df.columns:
        df = with_points(df)
    per_seed = df.groupby(["point", "seed"])[metric].mean() * scale
    return group_ci(per_seed.groupby(level="point")).rename_axis("point").reset_index()


def pareto_table(pts: pd.DataFrame, df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Figure 2: complete points with on_front (over contenders; the oracle is excluded);
    given the rows (`df`), the 95% interval over seeds of each point's suite means."""
    p = pts[pts["complete"]].copy()
    contender = ~p["policy"].isin(NOT_CONTENDERS) & ~p["label"].isin(NOT_CONTENDERS)
    p["contender"] = contender
    p["on_front"] = False
    c = p[contender]
    cost = "cost_cpu_pct" if "cost_cpu_pct" in p.columns else "cost_cpu_s"
    p.loc[c.index, "on_front"] = pareto_mask(c[cost].to_numpy(), c["hit_rate"].to_numpy())
    p["hit_rate_pct"] = p["hit_rate"] * 100
    if df is not None and len(p):
        sub = in_suite(df)
        for metric, lo, hi, scale in (("hit_rate", "hit_rate_lo_pct", "hit_rate_hi_pct", 100.0),
                                      ("cost_cpu_s", "cost_cpu_s_lo", "cost_cpu_s_hi", 1.0),
                                      ("cost_cpu_pct", "cost_cpu_pct_lo", "cost_cpu_pct_hi", 1.0)):
            if metric not in sub.columns:
                continue
            ci = suite_mean_ci(sub, metric, scale).set_index("point")
            p[lo], p[hi] = p["point"].map(ci["lo"]), p["point"].map(ci["hi"])
    return p.reset_index(drop=True)


# --------------------------------------------------------- 3. sensitivity maps


@dataclass
class HeatmapData:
    x: str  # knob column on the x axis
    y: str
    pivot: pd.DataFrame  # index: y values (ascending), columns: x values, cells: mean objective
    n: pd.DataFrame  # evaluations behind each cell
    others: list[str]  # other varying knobs averaged over
    # Half-width of each cell's 95% t interval over seeds (of the cell's mean at each seed).
    half: pd.DataFrame | None = None


def grid_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of grid points: kmmscand rows of sweeps (and compare's grid), not named
    labels, not study trials (a study samples; its knobs do not form a grid)."""
    return df[(df["policy"] == "kmmscand") & ~df["label"].isin(NAMED_LABELS)
              & (df["mode"] != "tune")]


def heatmap_tables(df: pd.DataFrame, max_values: int = 12, max_pairs: int = 6
                   ) -> list[HeatmapData]:
    """Figure 3: mean objective over each pair of knobs of a grid sweep (averaged over
    workloads, seeds and any other varying knob). Knobs with more than `max_values`
    distinct values (continuous searches) are not a grid and are skipped."""
    rows = grid_rows(in_suite(df))
    knobs = [c for c in varying_params(rows) if rows[c].dropna().nunique() <= max_values]
    out = []
    for i, x in enumerate(knobs):
        for y in knobs[i + 1:]:
            sub = rows[rows[x].notna() & rows[y].notna()]
            piv = sub.pivot_table(index=y, columns=x, values="objective", aggfunc="mean")
            cnt = sub.pivot_table(index=y, columns=x, values="objective", aggfunc="count")
            piv = piv.sort_index().sort_index(axis=1)
            cnt = cnt.reindex_like(piv).fillna(0).astype(int)
            ci = group_ci(sub.groupby([y, x, "seed"])["objective"].mean().groupby(level=[0, 1]))
            half = (ci["hi"] - ci["lo"]) / 2  # the t interval is symmetric
            out.append(HeatmapData(x=x, y=y, pivot=piv, n=cnt,
                                   others=[k for k in knobs if k not in (x, y)],
                                   half=half.unstack(x).reindex_like(piv)))
            if len(out) >= max_pairs:
                return out
    return out


# ------------------------------------------------------------- 4. over time


def ts_columns(ts: pd.DataFrame) -> dict[str, str | None]:
    """Time-series column names (the layout may carry per-mm knob columns)."""
    def first(*names):
        return next((n for n in names if n in ts.columns), None)

    return {"period": first("scan_period_ms", "scan_period_ms_mean", "scan_period_ms.0"),
            "size": first("scan_size_mb", "scan_size_mb_mean", "scan_size_mb.0"),
            "mm": first("mm")}


def pick_timeseries_eval(df: pd.DataFrame, ts: pd.DataFrame, series: list[str]) -> str | None:
    """The run drawn over time: the first highlighted kmmscand series (tuned, then the
    RFC defaults, then the best grid point) that has a time series, on the first
    workload and the lowest seed."""
    if "point" not in df.columns:
        df = with_points(df)
    have = set(ts["eval_id"].unique())
    cand = df[df["eval_id"].isin(have)]
    if cand.empty:
        return None
    pri = [TUNED, DEFAULT_LABEL] + [s for s in series if s not in (TUNED, DEFAULT_LABEL)]
    kmm = cand[cand["policy"] == "kmmscand"]
    pool = kmm if not kmm.empty else cand
    wl = list(dict.fromkeys(df["workload"]))
    for s in pri + sorted(set(pool["point"]) - set(pri)):
        rows = pool[pool["point"] == s]
        if rows.empty:
            continue
        rows = rows.assign(_w=rows["workload"].map(wl.index)).sort_values(["_w", "seed", "eval_id"])
        return str(rows["eval_id"].iloc[0])
    return None


def timeseries_frame(ts: pd.DataFrame, eval_id: str) -> pd.DataFrame:
    """One evaluation's samples, one row per sample time: t_s, hit_rate_pct,
    promotions_per_s, queue_len, scan_period_ms, scan_size_mb (the mean over the
    processes' slots when the table has one row per mm)."""
    cols = ts_columns(ts)
    sub = ts[ts["eval_id"] == eval_id]
    if sub.empty:
        raise InputError(f"{TIMESERIES}: no samples for eval_id {eval_id!r}")
    if cols["mm"]:
        agg = {c: "first" for c in ("hit_rate", "queue_len", "promotions")}
        for k in ("period", "size"):
            if cols[k]:
                agg[cols[k]] = "mean"
        sub = sub.groupby("t_s", sort=True).agg(agg).reset_index()
    sub = sub.sort_values("t_s")
    t = sub["t_s"].to_numpy(dtype=float)
    dt = np.diff(t, prepend=0.0)
    dt[dt <= 0] = np.nan
    out = pd.DataFrame({
        "t_s": t,
        "hit_rate_pct": sub["hit_rate"].to_numpy(dtype=float) * 100,
        "promotions_per_s": sub["promotions"].to_numpy(dtype=float) / dt,
        "queue_len": sub["queue_len"].to_numpy(dtype=float),
    })
    for k, name in (("period", "scan_period_ms"), ("size", "scan_size_mb")):
        out[name] = (pd.to_numeric(sub[cols[k]], errors="coerce").to_numpy(dtype=float)
                     if cols[k] else np.nan)
    return out


def timeseries_summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Figure 4's table: per series, mean and final of each panel's quantity."""
    rows = []
    for name, f in frames.items():
        rows.append({
            "series": name,
            "samples": len(f),
            "hit_rate_mean_pct": f["hit_rate_pct"].mean(),
            "hit_rate_final_pct": f["hit_rate_pct"].iloc[-1],
            "promotions_per_s_mean": f["promotions_per_s"].mean(),
            "queue_len_max": f["queue_len"].max(),
            "scan_period_ms_final": f["scan_period_ms"].iloc[-1],
            "scan_size_mb_final": f["scan_size_mb"].iloc[-1],
        })
    return pd.DataFrame(rows)
