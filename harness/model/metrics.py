"""What a run reports: the hit accounting, the time series and the flat
metrics dict of ``RunResult`` (from the counters and CPU time of counters.py).

Hit accounting integrates expected accesses exactly between events from the
access rates by tier that ``Memory`` keeps up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from harness.model.counters import Counters, CpuTime
from harness.model.workloads import US

if TYPE_CHECKING:
    from harness.model.memory import Memory
    from harness.model.runtime import ClosedLoop

SERIES_KEYS = ("t_s", "hit_rate", "hit_rate_cum", "queue_len", "queue_bytes", "promotions",
               "demotions", "failed", "scan_period_ms", "scan_size_mb")

# Memory of one migration-list entry: the 40-byte kmmscand_migrate_info is a
# kmalloc-64 slab object.
ENTRY_BYTES = 64


class Metrics:
    """Counters, CPU time, expected accesses (total, on the fast tier, and on
    the fast tier under the `none` baseline's placement) and the time series."""

    def __init__(self, mem: Memory, counters: Counters, cpu_ns: CpuTime):
        self.mem = mem
        self.counters = counters
        self.cpu_ns = cpu_ns
        self.acc_fast = 0.0
        self.acc_total = 0.0
        self.acc_base_fast = 0.0
        self.t_acc = 0
        self.series: dict[str, list] = {k: [] for k in SERIES_KEYS}
        # The objective of the run so far at each sample (kept beside the
        # series, whose columns are the results schema's).
        self.progress: dict[str, list] = {"t_s": [], "objective": []}
        self._last_sample = (0.0, 0.0, 0, 0, 0)
        # Memory held by a migration list (bytes), set by a policy that keeps one.
        self.list_bytes: Callable[[], int] | None = None
        self.entry_bytes = ENTRY_BYTES  # one migration-list entry (the policy's slab)

    def advance(self, t: int, speed: float = 1.0) -> None:
        """Integrate the expected accesses up to t at the current rates.

        Pages moved inside the last event at their own times (``Memory.move``
        with at_us) changed the rates from the event's time on; ``mem.fast_lag``
        (rate x us) is what the fast tier did not serve before each move, taken
        back with the interval that follows the event (at the interval's speed,
        constant between events), so a sample at the event's time is exact too."""
        mem = self.mem
        dt = (t - self.t_acc) / US * speed
        if dt > 0:
            self.acc_fast += mem.fast_rate * dt - mem.fast_lag / US * speed
            self.acc_total += mem.total_rate * dt
            self.acc_base_fast += mem.base_fast_rate * dt
            mem.fast_lag = 0.0
        self.t_acc = t

    def sample(self, t: int, queue_len: int, knobs: tuple[list, list]) -> None:
        """One time-series point: the interval since the last one, and totals."""
        c = self.counters
        f0, a0, p0, d0, x0 = self._last_sample
        failed = c.failed()
        da = self.acc_total - a0
        s = self.series
        s["t_s"].append(t / US)
        s["hit_rate"].append((self.acc_fast - f0) / da if da > 0 else float("nan"))
        s["hit_rate_cum"].append(self.acc_fast / self.acc_total if self.acc_total else float("nan"))
        s["queue_len"].append(int(queue_len))
        s["queue_bytes"].append(int(self.list_bytes()) if self.list_bytes is not None else 0)
        s["promotions"].append(c.promotions - p0)
        s["demotions"].append(c.demotions - d0)
        s["failed"].append(failed - x0)
        period, size = knobs
        s["scan_period_ms"].append(period)
        s["scan_size_mb"].append(size)
        # The run's objective so far (the final one at the last sample): the
        # intermediate value a multi-fidelity study judges a trial on.
        self.progress["t_s"].append(t / US)
        self.progress["objective"].append(self.objective_so_far(t))
        self._last_sample = (self.acc_fast, self.acc_total, c.promotions, c.demotions, failed)

    def objective_so_far(self, t: int) -> float:
        if self.acc_total <= 0 or t <= 0:
            return float("nan")
        cpu = self.cpu_ns
        cost = (cpu.scanner + cpu.migrator + cpu.kswapd + cpu.app_mark + cpu.app_fault) / 1e9
        return objective(self.acc_fast / self.acc_total, self.acc_base_fast / self.acc_total,
                         cost, t / US)

    def finish(self, policy_name: str, end_us: int, runtime: dict, wall_s: float) -> dict:
        """The flat metrics of RunResult (keys are part of the results schema)."""
        c, cpu, mem = self.counters, self.cpu_ns, self.mem
        dur = end_us / US
        hit = self.acc_fast / self.acc_total if self.acc_total > 0 else 0.0
        base = self.acc_base_fast / self.acc_total if self.acc_total > 0 else 0.0
        scan_s = cpu.scanner / 1e9
        mig_s = cpu.migrator / 1e9
        kswapd_s = cpu.kswapd / 1e9
        mark_s = cpu.app_mark / 1e9
        fault_s = cpu.app_fault / 1e9
        app_s = mark_s + fault_s
        # kswapd runs only when a promotion failed for want of free memory:
        # its scan and demotions are part of what promotion costs.
        cost = scan_s + mig_s + app_s + kswapd_s
        page_bytes = mem.page_bytes
        return dict(
            policy=policy_name,
            hit_rate=hit,
            hit_rate_none=base,
            hit_rate_gain=hit - base,
            accesses=self.acc_total,
            promotions=c.promotions,
            promote_failed=c.failed(),
            **c.failed_by_reason(),
            demotions=c.demotions,
            pingpong=c.pingpong,
            ptes_scanned=c.ptes_scanned,
            mm_scans=c.mm_scans,
            vma_scans=c.vma_scans,
            migadded=c.migadded,
            slowtier=c.slowtier,
            toptier=c.toptier,
            idlepage=c.idlepage,
            hint_faults=c.hint_faults,
            migrate_dropped=c.migrate_dropped,
            migrate_stale=c.migrate_stale,
            queue_len_peak=c.queue_len_peak,
            queue_bytes_peak=c.queue_len_peak * self.entry_bytes,
            kzalloc_failed=c.kzalloc_failed,
            kswapd_runs=c.kswapd_runs,
            kswapd_accessed=c.kswapd_accessed,
            scanner_cpu_s=scan_s,
            migrator_cpu_s=mig_s,
            kswapd_cpu_s=kswapd_s,
            app_overhead_s=app_s,
            cost_cpu_s=cost,
            bytes_promoted=c.promotions * page_bytes,
            bytes_demoted=c.demotions * page_bytes,
            bytes_migrated=(c.promotions + c.demotions) * page_bytes,
            time_to_90pct_s=time_to_fraction(self.series["t_s"], self.series["hit_rate"], 0.9),
            objective=objective(hit, base, cost, dur),
            numab_task_work_s=mark_s,
            numab_hint_fault_s=fault_s,
            **runtime,
            duration_s=dur,
            pages=mem.n_pages,
            footprint_gb=mem.n_pages * page_bytes / (1 << 30),
            wall_s=wall_s,
        )


def runtime_metrics(loop: ClosedLoop | None) -> dict:
    """Completion time and its split (NaN in open loop)."""
    if loop is None:
        nan = float("nan")
        return dict(completion_s=nan, all_fast_s=nan, slowdown=nan, runtime_penalty_s=nan,
                    runtime_stall_s=nan, completed=0)
    return loop.metrics()


def objective(hit: float, hit_none: float, cost_cpu_s: float, duration_s: float) -> float:
    """Fast-tier hit-rate gain over `none`, in percentage points, per percent of
    one CPU spent on promotion (scan + migration + application-charged + the
    kswapd demotions that failed promotions cause), with a floor of 1 % of a
    CPU: gain_pp / (cpu_pct + 1). Doing nothing scores 0."""
    cpu_pct = 100.0 * cost_cpu_s / duration_s
    return 100.0 * (hit - hit_none) / (cpu_pct + 1.0)


def time_to_fraction(t: list, hit: list, frac: float) -> float:
    """First sample time at which the interval hit rate reaches frac x its final
    level (the mean over the last 10 % of samples)."""
    h = np.asarray(hit, dtype=float)
    if len(h) == 0 or np.all(np.isnan(h)):
        return float("nan")
    tail = h[-max(1, len(h) // 10):]
    final = float(np.nanmean(tail)) if not np.all(np.isnan(tail)) else 0.0
    ok = np.flatnonzero(np.nan_to_num(h, nan=-1.0) >= frac * final)
    return float(t[ok[0]]) if len(ok) else float("nan")


def metric_names() -> tuple[str, ...]:
    """The names of RunResult's numeric metrics (what an objective may name):
    finish()'s keys, from a run that did nothing."""
    from types import SimpleNamespace

    idle = Metrics(SimpleNamespace(page_bytes=4096, n_pages=0), Counters(), CpuTime())
    keys = idle.finish("none", US, runtime_metrics(None), 0.0)
    return tuple(k for k, v in keys.items() if not isinstance(v, str))
