"""The headline of a tuning run: per workload, hit rate, CPU and the study's
objective of the recommendation beside the RFC defaults and the baselines.

Read from a run directory (trials.parquet and summary.json), so ``tune`` and
``defaults`` print the same table. Values are means over the seeds each
policy ran with, with 95% t intervals; a workload whose value is the same on
every seed (a trace replayed exactly) is "deterministic": no interval is
printed, since the variation that matters there is the search's own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.normalize import References, cpu_percent
from harness.analysis.stats import mean_ci
from harness.experiment import DEFAULT_LABEL
from harness.experiment.spec import TUNED
from harness.run.store.layout import SUMMARY, TRIALS

RECOMMENDED = "recommended"
KERNEL = "kernel-settable"
# Rows of the table, in order. A new baseline policy is one more entry here.
BASELINES = ("none", "numab2", "damon_tier", DEFAULT_LABEL)
ORDER = (*BASELINES, RECOMMENDED, KERNEL, "oracle")


def read_summary(run_dir: str | Path) -> dict:
    try:
        return json.loads((Path(run_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return {}


def _rows(t: pd.DataFrame, choice: dict) -> dict[str, pd.DataFrame]:
    """Rows per headline label."""
    comp = t[t["mode"] == "compare"]
    out = {label: comp[comp["label"] == label] for label in (*BASELINES, "oracle")}
    rec = choice.get("recommendation") or {}
    tuned = comp[comp["label"] == TUNED]
    if len(tuned):
        out[RECOMMENDED] = tuned
    elif rec:
        n = int(rec["trial"])
        out[RECOMMENDED] = pd.concat([
            t[(t["mode"] == "tune") & (t["trial"] == n)],
            t[t["eval_id"].str.contains(f"/holdout/t{n:05d}/", regex=False)]])
    k = choice.get("kernel")
    if k:
        out[KERNEL] = t[t["eval_id"].str.contains(f"/holdout/k{int(k['trial']):05d}/",
                                                   regex=False)]
    return {k: v for k, v in out.items() if len(v)}


def _stat(values: pd.Series) -> tuple[float, float, float, bool]:
    v = values.to_numpy(float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan, False
    det = len(v) > 1 and float(np.ptp(v)) <= 1e-9 * max(1.0, float(np.abs(v).max()))
    if det:
        return float(v[0]), math.nan, math.nan, True
    m, lo, hi = mean_ci(v)
    return m, lo, hi, False


def headline_table(run_dir: str | Path, metric: str | None = None) -> pd.DataFrame:
    """One row per (workload, label): n seeds, hit rate %, CPU % (of one CPU), the
    objective metric, each with its 95% interval, and whether it is deterministic."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    choice = summary.get("choice") or {}
    metric = metric or choice.get("metric") or "objective"
    t = pd.read_parquet(run_dir / TRIALS)
    refs = (References.from_records(summary["references"]) if summary.get("references")
            else None)
    rows = []
    for label, d in _rows(t, choice).items():
        d = refs.derive_frame(d) if refs is not None else d.assign(
            cpu_percent=[cpu_percent(r) for r in d.to_dict("records")])
        for w, g in d.groupby("workload", sort=False):
            per_seed = g.groupby("seed")
            row = {"workload": w, "label": label, "n_seeds": int(per_seed.ngroups),
                   "seeds": ",".join(str(s) for s in sorted(g["seed"].unique()))}
            for name, col, scale in (("hit", "hit_rate", 100.0), ("cpu", "cpu_percent", 1.0),
                                     ("obj", metric, 1.0)):
                if col not in g:
                    continue
                m, lo, hi, det = _stat(per_seed[col].mean() * scale)
                row.update({name: m, f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_det": det})
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    order = {k: i for i, k in enumerate(ORDER)}
    wl = {w: i for i, w in enumerate(dict.fromkeys(t["workload"]))}
    df["_o"] = df["label"].map(order).fillna(99) + 100 * df["workload"].map(wl)
    return df.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def verdicts(df: pd.DataFrame, bounds: dict[str, float]) -> list[str]:
    """Per workload, in words: what the recommendation did to hit rate and CPU
    against the RFC defaults, and whether it broke the hit-loss guard (and why)."""
    out = []
    max_loss = bounds.get("max_hit_loss_points", 2.0)
    budget = bounds.get("max_cpu_percent")
    for w, g in df.groupby("workload", sort=False):
        by = {r["label"]: r for r in g.to_dict("records")}
        if RECOMMENDED not in by or DEFAULT_LABEL not in by:
            continue
        r, d = by[RECOMMENDED], by[DEFAULT_LABEL]
        dh, dc = r["hit"] - d["hit"], r["cpu"] - d["cpu"]
        hit_w = ("better" if dh > 0.5 else "worse" if dh < -0.5 else "about the same")
        cpu_w = ("cheaper" if dc < -0.1 * max(d["cpu"], 1e-9) else "dearer"
                 if dc > 0.1 * max(d["cpu"], 1e-9) else "about as costly")
        text = (f"{w}: hit rate {hit_w} ({dh:+.1f} points), CPU {cpu_w} "
                f"({r['cpu']:.1f}% vs {d['cpu']:.1f}% of a CPU)")
        if -dh > max_loss:
            if budget is not None and d["cpu"] > budget:
                text += (f"; LOSES {-dh:.1f} points > {max_loss:g}: the CPU budget forces it "
                         f"(the RFC defaults spend {d['cpu']:.1f}% > {budget:g}%)")
            else:
                text += (f"; LOSES {-dh:.1f} points > {max_loss:g} on these seeds (within the "
                         "guard on the study seeds' means)")
        out.append(text)
    return out
