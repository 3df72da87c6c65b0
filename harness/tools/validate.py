"""Predictions with the calibrated constants (`tiersweep validate`): Abench
times at 8-64 GB, growth per doubling, each overhead's share, and the
migration list at 8 GB; the fit itself is in ``calibrate``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

from harness.tools.calibrate import (
    ABENCH_DIR,
    LIST_POLICIES,
    POLICY_FILES,
    PUBLISHED_OVERHEAD,
    PUBLISHED_TIMES,
    _sim,
    abench_config,
    overhead_split,
)


def predict(sizes=(8, 16, 32, 64), policies=tuple(POLICY_FILES), directory: Path = ABENCH_DIR,
            progress: Callable[[dict], None] | None = None,
            constants: dict | None = None) -> list[dict]:
    """Predicted completion times with the shipped (calibrated) constants, or
    with `constants` ({dotted path: value}) over them, the growth per
    doubling, the split of the time, and the list at 8 GB."""
    rows = []
    prev: dict[str, dict] = {}
    for size in sizes:
        for policy in policies:
            cfg = abench_config(policy, size, constants, directory)
            cfg = dataclasses.replace(cfg, duration_s=max(cfg.duration_s, 60.0 * size))
            m, split = _sim(cfg)
            comp = m["completion_s"]
            pub = PUBLISHED_TIMES.get(("abench", size, policy))
            p = prev.get(policy)
            growth = ((comp / p["predicted_s"]) ** (1 / math.log2(size / p["size_gb"]))
                      if p else None)
            per_page_us = cfg.costs.migrate_page_us + cfg.costs.tlb_shootdown_us
            row = dict(benchmark="abench", size_gb=size, policy=policy,
                       predicted_s=round(comp, 2),
                       published_s=pub[0] if pub else None,
                       error_pct=round(100 * (comp / pub[0] - 1), 2) if pub else None,
                       growth=round(growth, 3) if growth else None,
                       overheads={k: round(v, 3) for k, v in overhead_split(policy, m).items()},
                       published_overheads={k: v for (q, k), v in PUBLISHED_OVERHEAD.items()
                                            if q == policy} if size == 8 else {},
                       all_fast_s=round(m["all_fast_s"], 2),
                       penalty_s=round(m["runtime_penalty_s"], 2),
                       stall_s=round(m["runtime_stall_s"], 2),
                       stall_task_s=round(split["stall_task_s"], 3),
                       stall_ipi_s=round(split["stall_ipi_s"], 3),
                       scan_cpu_s=round(m["scanner_cpu_s"], 3),
                       migrate_cpu_s=round(m["migrator_cpu_s"], 3),
                       app_cpu_s=round(m["app_overhead_s"], 3),
                       kswapd_cpu_s=round(m.get("kswapd_cpu_s", 0.0), 3),
                       promotions=m["promotions"], demotions=m["demotions"])
            if size == 8 and policy in LIST_POLICIES:
                row.update(migadded=m["migadded"],
                           queue_len_peak=m.get("queue_len_peak"),
                           queue_bytes_peak=m.get("queue_bytes_peak"),
                           time_to_90pct_s=m["time_to_90pct_s"],
                           migrated_x_page_s=round(m["promotions"] * per_page_us / 1e6, 2))
            prev[policy] = row
            rows.append(row)
            if progress:
                progress(row)
    return rows


def _pct(v: float, total: float) -> str:
    return f"{100 * v / total:5.1f}"


def format_row(r: dict) -> str:
    """One validate line: time, published, growth, and shares of the time (%):
    slow-access penalty, in-task stalls, IPI stalls; background CPU (scan,
    migration thread, kswapd) as % of the run (other CPUs, not on the path)."""
    pub = f"{r['published_s']:7.2f}" if r["published_s"] is not None else "      -"
    err = f"{r['error_pct']:+6.1f}%" if r["error_pct"] is not None else "      -"
    gr = f"{r['growth']:5.2f}x" if r["growth"] is not None else "     -"
    t = r["predicted_s"]
    return (f"{r['size_gb']:3g} GB {r['policy']:12s} {t:8.2f} {pub} {err} {gr}"
            f" | {_pct(r['penalty_s'], t)} {_pct(r['stall_task_s'], t)} {_pct(r['stall_ipi_s'], t)}"
            f" | {_pct(r['scan_cpu_s'], t)} {_pct(r['migrate_cpu_s'], t)}"
            f" {_pct(r['kswapd_cpu_s'], t)}")


HEADER = ("  size policy        predicted  pub    error   growth"
          " | penal  task   ipi | scan  migr kswpd\n"
          "                          (s)     (s)          /2x size"
          " | % of the time     | bg CPU, % of the run")


def format_overheads(r: dict) -> str:
    """The RFC's overhead categories beside the published ones (8 GB)."""
    return ", ".join(f"{k} {v:.2f}" + (f" (pub {r['published_overheads'][k]:.2f})"
                                       if k in r["published_overheads"] else "")
                     for k, v in r["overheads"].items())


LIST_HEADER = ("policy        migadded  list peak  peak bytes  t90% (s)  "
               "promoted x per-page (s)")


def format_list(r: dict) -> str:
    """Migration-list figures at 8 GB: entries queued, peak length and bytes,
    time to 90 % of accesses on the fast tier beside pages migrated x per page."""
    def num(v):
        return f"{v:,.0f}" if v is not None and v == v else "-"
    return (f"{r['policy']:12s} {num(r['migadded']):>10s} {num(r['queue_len_peak']):>10s}"
            f" {num(r['queue_bytes_peak']):>11s} {r['time_to_90pct_s']:9.2f}"
            f"  {r['migrated_x_page_s']:9.2f}")
