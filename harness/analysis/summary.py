"""Results directories as tables: load, validate, aggregate.

Everything the figures, the report and the recommended defaults show is
computed here from ``trials.parquet`` (one row per evaluation), the long-form
``timeseries.parquet`` and, for studies, the Optuna journal. No matplotlib.

Vocabulary:

* an *evaluation* is one row: one configuration on one workload with one seed;
* a *point* is one configuration: the rows sharing a ``label``, a ``policy``
  and the values of every knob that varies in the run. Its figures are means
  over the workloads and seeds it was evaluated on;
* the *series* of a row is its point's display name (the label when the label
  names one point). Colours are keyed by series.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import InputError

TRIALS = "trials.parquet"
TIMESERIES = "timeseries.parquet"
MANIFEST = "manifest.json"
PARTS = "parts"  # batches the result store appends before merging them (harness.run.store)

# Columns the figures, report and defaults need, and their kind.
REQUIRED_TRIAL_COLUMNS: dict[str, str] = {
    "run": "text", "mode": "text", "eval_id": "text", "label": "text", "policy": "text",
    "workload": "text", "seed": "number", "hit_rate": "number", "cost_cpu_s": "number",
    "objective": "number",
}
REQUIRED_TIMESERIES_COLUMNS: dict[str, str] = {
    "eval_id": "text", "t_s": "number", "hit_rate": "number", "queue_len": "number",
    "promotions": "number",
}

METRICS = ["hit_rate", "cost_cpu_s", "objective"]

# Named labels, in legend order. Baselines are policies other than kmmscand.
NAMED_LABELS = ("none", "numab2", "rfc-default", "tuned", "oracle")
BASELINES = ("none", "numab2", "oracle")
# The oracle's migrations cost nothing: an upper bound, never a contender.
NOT_CONTENDERS = ("oracle",)

# Units of knobs whose name does not end in a unit suffix.
_KNOB_UNITS = {"mms_to_scan": "mms", "migrate_batch": "pages", "scan_change_scale": "pages",
               "scan_scale": "0-10", "target_node": "node id", "a_bit_miss": "probability"}
_SUFFIX_UNITS = (("_mbps", "MB/s"), ("_ms", "ms"), ("_mb", "MB"), ("_gb", "GiB"),
                 ("_pct", "%"), ("_us", "us"), ("_ns", "ns"), ("_s", "s"))


# ------------------------------------------------------------------ loading


@dataclass
class RunData:
    """One results directory, validated."""

    path: Path
    trials: pd.DataFrame
    timeseries: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    journal: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        runs = self.trials["run"].unique()
        return str(runs[0]) if len(runs) == 1 else self.path.name


def _kind_ok(series: pd.Series, kind: str) -> bool:
    if kind == "number":
        return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: missing; expected {what}")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable parquet file ({reason}); "
                         f"expected {what}") from None


def _check_columns(df: pd.DataFrame, path: Path, required: dict[str, str]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected at least "
                         f"{', '.join(required)}")
    for col, kind in required.items():
        if not _kind_ok(df[col], kind):
            want = "numbers" if kind == "number" else "text"
            raise InputError(f"{path}: column {col}: expected {want}, got dtype {df[col].dtype}")


def _parts(run_dir: Path, prefix: str) -> list[Path]:
    """Part files a running (or crashed) command appended and has not merged yet."""
    return sorted((run_dir / PARTS).glob(f"{prefix}-*.parquet"))


def read_trials(path: str | Path, parts: list[Path] = ()) -> pd.DataFrame:
    """``trials.parquet`` (plus unmerged part files, the newest row of an eval_id
    winning, as the result store merges them), validated: required columns and
    kinds, unique eval ids."""
    p = Path(path)
    frames = []
    for f in ([p] if p.exists() or not parts else []) + list(parts):
        part = _read_parquet(f, "the results table (one row per evaluation)")
        _check_columns(part, f, REQUIRED_TRIAL_COLUMNS)
        frames.append(part)
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if parts:
        df = df.drop_duplicates("eval_id", keep="last").reset_index(drop=True)
    if df.empty:
        raise InputError(f"{p}: no rows; expected one row per evaluation")
    dup = df["eval_id"].duplicated()
    if dup.any():
        raise InputError(f"{p}: column eval_id: expected unique values, "
                         f"{int(dup.sum())} duplicate(s) such as {df['eval_id'][dup].iloc[0]!r}")
    hr = df["hit_rate"].dropna()
    if ((hr < 0) | (hr > 1)).any():
        raise InputError(f"{p}: column hit_rate: expected shares in [0, 1]")
    for col in ("label", "policy", "workload"):
        if df[col].isna().any():
            raise InputError(f"{p}: column {col}: expected a value in every row")
    return df.reset_index(drop=True)


def read_timeseries(path: str | Path, parts: list[Path] = ()) -> pd.DataFrame:
    """``timeseries.parquet`` (plus unmerged parts: an eval_id's samples come from the
    newest file that has it), validated."""
    p = Path(path)
    frames = []
    for k, f in enumerate(([p] if p.exists() or not parts else []) + list(parts)):
        part = _read_parquet(f, "the time series (long form keyed by eval_id)")
        _check_columns(part, f, REQUIRED_TIMESERIES_COLUMNS)
        frames.append(part.assign(_src=k))
    df = pd.concat(frames, ignore_index=True)
    newest = df.groupby("eval_id")["_src"].transform("max")
    return df[df["_src"] == newest].drop(columns="_src").reset_index(drop=True)


def read_manifest(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); expected the run manifest") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (the run manifest)")
    return data


def find_journal(run_dir: Path, manifest: dict) -> Path | None:
    """The Optuna journal of a study run: the journal file the latest tune invocation
    recorded in the manifest (``--storage PATH``), else the run directory's *.journal."""
    for inv in reversed(manifest.get("invocations") or []):
        val = inv.get("storage") if isinstance(inv, dict) else None
        if isinstance(val, str) and "://" not in val:
            cand = Path(val)
            cand = cand if cand.is_absolute() else run_dir / cand
            if cand.is_file():
                return cand
    found = sorted(run_dir.glob("*.journal"))
    return found[0] if found else None


def study_name(manifest: dict) -> str | None:
    """The study's name: tune names it after the run (the experiment's name)."""
    name = manifest.get("study_name") or manifest.get("run")
    return str(name) if name else None


def load_run(path: str | Path) -> RunData:
    """A results directory: ``trials.parquet`` required; time series, manifest, journal optional."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such results directory")
    if not p.is_dir():
        raise InputError(f"{p}: not a directory; expected a results directory "
                         f"(results/<name>/ with {TRIALS})")
    tparts, sparts = _parts(p, "trials"), _parts(p, "ts")
    if not (p / TRIALS).exists() and not tparts:
        raise InputError(f"{p / TRIALS}: missing; expected a results directory written by "
                         f"`tiersweep sweep`, `tune` or `compare`")
    trials = read_trials(p / TRIALS, tparts)
    ts = read_timeseries(p / TIMESERIES, sparts) \
        if (p / TIMESERIES).exists() or sparts else None
    manifest = read_manifest(p / MANIFEST)
    run = RunData(path=p, trials=trials, timeseries=ts, manifest=manifest,
                  journal=find_journal(p, manifest))
    if tparts:
        run.notes.append(f"{len(tparts)} part file(s) in {PARTS}/ not merged yet (a command "
                         "is running or was stopped) are included")
    bad = int(trials["objective"].isna().sum())
    if bad:
        run.notes.append(f"{bad} evaluation(s) without an objective (failed?) are left out")
        run.trials = trials[trials["objective"].notna()].reset_index(drop=True)
        if run.trials.empty:
            raise InputError(f"{p / TRIALS}: every row lacks an objective; nothing to report")
    return run


# -------------------------------------------------------------- knobs/labels


def param_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("param.")]


def varying_params(df: pd.DataFrame) -> list[str]:
    """Knob columns with more than one distinct value among the rows that set them."""
    return [c for c in param_columns(df) if df[c].dropna().nunique() > 1]


def knob_name(col: str) -> str:
    """``param.policy.scan_size_mb`` -> ``policy.scan_size_mb``."""
    return col[len("param."):] if col.startswith("param.") else col


def knob_unit(col: str) -> str:
    leaf = col.rsplit(".", 1)[-1]
    if leaf in _KNOB_UNITS:
        return _KNOB_UNITS[leaf]
    for suffix, unit in _SUFFIX_UNITS:
        if leaf.endswith(suffix):
            return unit
    return ""


def knob_label(col: str) -> str:
    """Axis label: ``scan_size (MB)`` for ``param.policy.scan_size_mb``."""
    leaf = col.rsplit(".", 1)[-1]
    unit = knob_unit(col)
    base = leaf
    for suffix, u in _SUFFIX_UNITS:
        if leaf.endswith(suffix) and u == unit:
            base = leaf[: -len(suffix)]
            break
    prefix = knob_name(col).rsplit(".", 1)[0]
    if prefix not in ("policy", leaf):
        base = f"{prefix}.{base}"
    return f"{base} ({unit})" if unit else base


def _fmt_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ------------------------------------------------------------------ points


def _key_frame(df: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """Grouping keys of points; NaN knob values become a sentinel so groupby keeps them."""
    knobs = varying_params(df)
    keys = ["mode", "label", "policy", *knobs]
    kf = df[keys].astype(object).where(df[keys].notna(), "<unset>")
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
                parts = [f"{knob_name(k).rsplit('.', 1)[-1]}={_fmt_value(row[k])}"
                         for k in knobs if row[k] != "<unset>"]
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
    pw = df.groupby(["point", "workload"], sort=False)[METRICS].mean()
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
    for m in METRICS:
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
    knobs = [c for c in ranked.columns if c.startswith("param.")]

    def config(row) -> tuple:
        return (row["policy"], *(("<unset>" if pd.isna(row[c]) else row[c]) for c in knobs))

    seen = {config(r) for _, r in ranked[is_named].iterrows() if r["point"] == "tuned"}
    others = [r["point"] for _, r in ranked[~is_named & ranked["complete"]].iterrows()
              if config(r) not in seen]
    return named + others[:extra]


# -------------------------------------------------------------- figure data


def comparison_table(df: pd.DataFrame, series: list[str]) -> pd.DataFrame:
    """Figure 1: per workload and series, mean and sample sd over seeds of hit rate (%)
    and cost (CPU-s)."""
    if "point" not in df.columns:
        df = with_points(df)
    sub = in_suite(df)
    sub = sub[sub["point"].isin(series)]
    g = sub.groupby(["workload", "point"], sort=False)
    tab = pd.DataFrame({
        "n_seeds": g["seed"].nunique(),
        "hit_rate_pct": g["hit_rate"].mean() * 100,
        "hit_rate_sd_pct": g["hit_rate"].std() * 100,
        "cost_cpu_s": g["cost_cpu_s"].mean(),
        "cost_cpu_s_sd": g["cost_cpu_s"].std(),
        "objective": g["objective"].mean(),
    }).reset_index().rename(columns={"point": "series"})
    wl = list(dict.fromkeys(df["workload"]))
    tab["_w"] = tab["workload"].map(wl.index)
    tab["_s"] = tab["series"].map(series.index)
    return tab.sort_values(["_w", "_s"]).drop(columns=["_w", "_s"]).reset_index(drop=True)


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


def pareto_table(pts: pd.DataFrame) -> pd.DataFrame:
    """Figure 2: complete points with on_front (over contenders; the oracle is excluded)."""
    p = pts[pts["complete"]].copy()
    contender = ~p["policy"].isin(NOT_CONTENDERS) & ~p["label"].isin(NOT_CONTENDERS)
    p["contender"] = contender
    p["on_front"] = False
    c = p[contender]
    p.loc[c.index, "on_front"] = pareto_mask(c["cost_cpu_s"].to_numpy(), c["hit_rate"].to_numpy())
    p["hit_rate_pct"] = p["hit_rate"] * 100
    return p.reset_index(drop=True)


@dataclass
class HeatmapData:
    x: str  # knob column on the x axis
    y: str
    pivot: pd.DataFrame  # index: y values (ascending), columns: x values, cells: mean objective
    n: pd.DataFrame  # evaluations behind each cell
    others: list[str]  # other varying knobs averaged over


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
            out.append(HeatmapData(x=x, y=y, pivot=piv, n=cnt,
                                   others=[k for k in knobs if k not in (x, y)]))
            if len(out) >= max_pairs:
                return out
    return out


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
    pri = ["tuned", "rfc-default"] + [s for s in series if s not in ("tuned", "rfc-default")]
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


# ------------------------------------------------------------------ studies


@dataclass
class StudyTables:
    name: str
    direction: str  # "maximize" or "minimize" (of the first objective)
    metric: str
    history: pd.DataFrame  # trial, value, best_so_far
    importances: pd.DataFrame  # param, importance
    evaluator: str
    n_complete: int


def load_study(journal: Path, name: str | None = None):
    """Open a study from an Optuna journal file (read only use)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not journal.is_file():
        raise InputError(f"{journal}: missing; expected an Optuna journal file")
    try:
        storage = JournalStorage(JournalFileBackend(str(journal)))
        names = optuna.study.get_all_study_names(storage)
    except Exception as exc:
        raise InputError(f"{journal}: not a readable Optuna journal ({exc})") from None
    if not names:
        raise InputError(f"{journal}: holds no study")
    if name is None or (name not in names and len(names) == 1):
        if len(names) > 1:
            raise InputError(f"{journal}: holds several studies ({', '.join(names)}) and the "
                             f"manifest names none of them")
        name = names[0]
    elif name not in names:
        raise InputError(f"{journal}: no study named {name!r}; it holds {', '.join(names)}")
    return optuna.load_study(study_name=name, storage=storage)


def choose_evaluator(n_trials: int, fanova_max: int = 300):
    """fANOVA (a random forest; needs scikit-learn) on small studies, else PED-ANOVA,
    which stays fast on thousands of trials (STACK.md: 0.1 s versus 93 s at 10k)."""
    import optuna.importance as imp

    if n_trials <= fanova_max:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            pass
        else:
            return imp.FanovaImportanceEvaluator(seed=0), "fANOVA"
    return imp.PedAnovaImportanceEvaluator(), "PED-ANOVA"


def study_tables(study) -> StudyTables:
    """Figure 5's numbers: completed trials' values (first objective) and importances."""
    import optuna
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    vals = [t.values[0] for t in done]
    hist = pd.DataFrame({"trial": [t.number for t in done], "value": vals})
    hist = hist.sort_values("trial").reset_index(drop=True)
    hist["best_so_far"] = hist["value"].cummax() if maximize else hist["value"].cummin()
    names = getattr(study, "metric_names", None)
    metric = names[0] if names else "objective"
    imp = pd.DataFrame(columns=["param", "importance"])
    evaluator = "none"
    varied = {k for t in done for k in t.params}
    if len(done) >= 2 and varied:
        ev, evaluator = choose_evaluator(len(done))
        target = None if len(study.directions) == 1 else (lambda t: t.values[0])
        try:
            res = optuna.importance.get_param_importances(study, evaluator=ev, target=target)
        except (RuntimeError, ValueError) as exc:
            evaluator = f"{evaluator} failed: {exc}"
        else:
            imp = pd.DataFrame({"param": list(res.keys()), "importance": list(res.values())})
            imp = imp.sort_values(["importance", "param"], ascending=[False, True])
            imp = imp.reset_index(drop=True)
    return StudyTables(name=study.study_name, direction="maximize" if maximize else "minimize",
                       metric=metric, history=hist, importances=imp, evaluator=evaluator,
                       n_complete=len(done))
