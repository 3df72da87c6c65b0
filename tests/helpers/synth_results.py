"""Synthetic results directories with the columns of trials.parquet
and timeseries.parquet (harness.run.worker's schema).

Used by the plot/report/defaults tests: fast, deterministic, no Ray.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

WORKLOADS = ("zipf", "hotset", "uniform")
SEEDS = (1, 2)
SIZES = (256, 1024, 4096)
SLEEPS = (8, 16, 32)


def _metrics(rng, hit_none, gain, cost):
    hit = min(1.0, hit_none + gain)
    return {
        "hit_rate": hit, "hit_rate_none": hit_none, "hit_rate_gain": hit - hit_none,
        "cost_cpu_s": cost, "objective": 100 * (hit - hit_none) / (100 * cost / 60 + 1),
        "promotions": int(rng.integers(0, 10000)), "promote_failed": 0, "demotions": 0,
        "pingpong": 0, "ptes_scanned": int(rng.integers(0, 10**7)), "scanner_cpu_s": cost / 2,
        "migrator_cpu_s": cost / 2, "app_overhead_s": 0.0, "bytes_migrated": 0,
        "time_to_90pct_s": 5.0, "wall_s": 0.1, "duration_s": 60.0,
    }


def make_trials(mode: str = "compare", grid: bool = True, seed: int = 0) -> pd.DataFrame:
    """Rows for none, numab2, rfc-default, tuned, oracle and (optionally) a 3x3 grid
    over scan_size_mb x scan_sleep_ms, on three workloads and two seeds."""
    rng = np.random.default_rng(seed)
    rows = []
    base = {"zipf": 0.5, "hotset": 0.25, "uniform": 0.25}
    points = [("none", "none", {}, 0.0, 0.0),
              ("numab2", "numab2", {}, 0.07, 0.9),
              ("rfc-default", "kmmscand", {"scan_size_mb": 1024, "scan_sleep_ms": 16}, 0.03, 0.4),
              ("tuned", "kmmscand", {"scan_size_mb": 4096, "scan_sleep_ms": 8}, 0.09, 0.6),
              ("oracle", "oracle", {}, 0.6, 0.0)]
    if grid:
        for size in SIZES:
            for sleep in SLEEPS:
                gain = 0.02 + 0.01 * SIZES.index(size) + 0.01 * (2 - SLEEPS.index(sleep))
                cost = 0.1 * (1 + SIZES.index(size)) * (3 - SLEEPS.index(sleep))
                points.append((f"g-{size}-{sleep}", "kmmscand",
                               {"scan_size_mb": size, "scan_sleep_ms": sleep}, gain, cost))
    k = 0
    for trial, (label, policy, knobs, gain, cost) in enumerate(points):
        for w in WORKLOADS:
            for s in SEEDS:
                g = max(0.0, gain + rng.normal(0, 0.005)) if gain else 0.0
                c = max(0.0, cost * (1 + rng.normal(0, 0.05))) if cost else 0.0
                row = {"run": "demo", "mode": mode, "trial": trial, "eval_id": f"e{k:04d}",
                       "label": label, "policy": policy, "version": "v1", "workload": w,
                       "seed": s, "param.policy.kind": policy}
                for kn, v in knobs.items():
                    row[f"param.policy.{kn}"] = v
                row.update(_metrics(rng, base[w], g, c))
                row["worker"] = "local"
                row["finished_at"] = "2026-01-01T00:00:00"
                rows.append(row)
                k += 1
    df = pd.DataFrame(rows)
    for c in ("param.policy.scan_size_mb", "param.policy.scan_sleep_ms"):
        df[c] = df[c].astype("Int64").astype(float)
    return df


def make_timeseries(trials: pd.DataFrame, per_mm: bool = False, n: int = 20) -> pd.DataFrame:
    rows = []
    for _, r in trials.iterrows():
        if r["seed"] != trials["seed"].min():
            continue
        for i in range(n):
            t = float(i + 1)
            kmm = r["policy"] == "kmmscand"
            base = {"eval_id": r["eval_id"], "t_s": t,
                    "hit_rate": r["hit_rate"] * (1 - 0.5 * np.exp(-i / 4)),
                    "hit_rate_cum": r["hit_rate"], "queue_len": (i * 7) % 50,
                    "promotions": 100 * (n - i), "demotions": 0, "failed": 0}
            if per_mm:
                for mm in range(2):
                    rows.append({**base, "mm": mm,
                                 "scan_period_ms": (2000.0 + 100 * i + mm * 50) if kmm else None,
                                 "scan_size_mb": (1024.0 + mm * 256) if kmm else None})
            else:
                rows.append({**base, "scan_period_ms": 2000.0 + 100 * i if kmm else np.nan,
                             "scan_size_mb": 1024.0 if kmm else np.nan})
    return pd.DataFrame(rows)


def write_run(path: Path, trials: pd.DataFrame | None = None, timeseries: bool = True,
              per_mm: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    trials = make_trials() if trials is None else trials
    trials.to_parquet(path / "trials.parquet", index=False)
    if timeseries:
        make_timeseries(trials, per_mm=per_mm).to_parquet(path / "timeseries.parquet",
                                                          index=False)
    (path / "manifest.json").write_text(json.dumps({"run": "demo", "mode": "compare"}))
    return path


def make_tune_like(seed: int = 0) -> pd.DataFrame:
    """A study's table: trials (mode tune; trial 0 labelled rfc-default with its knobs set,
    the others t<N>) on seeds 1-2, plus its final comparison (mode compare: rfc-default
    without knobs and "tuned" = the best trial's knobs) on seeds 1-2 and holdout seed 3."""
    rng = np.random.default_rng(seed)
    rows = []
    trials = [(0, "rfc-default", 1024, 16), (1, "t1", 512, 32), (2, "t2", 4096, 8),
              (3, "t3", 2048, 8)]
    best = 2

    def metrics(size, sleep, w, s):
        gain = 0.01 * np.log2(size / 256) + 0.1 / sleep + 0.001 * s
        cost = 0.2 * size / 1024 / np.sqrt(sleep)
        return _metrics(rng, {"zipf": 0.5, "hotset": 0.25}[w], gain, cost)

    k = 0
    for n, label, size, sleep in trials:
        for w in ("zipf", "hotset"):
            for s in (1, 2):
                rows.append({"run": "st", "mode": "tune", "trial": n, "eval_id": f"t{k}",
                             "label": label, "policy": "kmmscand", "version": "v1",
                             "workload": w, "seed": s, "param.policy.scan_size_mb": size,
                             "param.policy.scan_sleep_ms": sleep, **metrics(size, sleep, w, s)})
                k += 1
    for label, trial, knobs in (("rfc-default", -1, None), ("tuned", best, trials[best][2:])):
        size, sleep = knobs or (1024, 16)
        for w in ("zipf", "hotset"):
            for s in (1, 2, 3):
                rows.append({"run": "st", "mode": "compare", "trial": trial, "eval_id": f"c{k}",
                             "label": label, "policy": "kmmscand", "version": "v1",
                             "workload": w, "seed": s,
                             "param.policy.scan_size_mb": size if knobs else np.nan,
                             "param.policy.scan_sleep_ms": sleep if knobs else np.nan,
                             **metrics(size, sleep, w, s)})
                k += 1
    return pd.DataFrame(rows)
