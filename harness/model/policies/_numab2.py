"""NUMA balancing in tiering mode (numa_balancing=2, "NUMAB2").

Each scan pass (in the task's context, cost charged to the application) marks
numab_scan_size_mb of an mm's slow-tier pages PROT_NONE. The first access
after marking takes a hint fault; the page is a promotion candidate if the
fault comes within hot_threshold_ms of the marking, or at once if the
destination has plenty of free memory. Candidates are capped at
promote_rate_limit_mbps per 1 s window; every threshold_adjust_s the
threshold moves toward that rate. Promotion is synchronous in the faulting
task. Hint faults are processed every numab_tick_ms (the model's resolution).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB
from harness.model.core import PRIO_POLICY
from harness.model.policies._base import Policy

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

ADJUST_STEPS = 16


@dataclass(slots=True)
class Numab2Slot:
    """Per-mm scan state (task_numa_work's mm->numa_scan_offset)."""

    cursor: int = 0  # page offset in the mm where the next marking pass starts


class Numab2Policy(Policy):
    name = "numab2"

    def start(self, sim: Sim) -> None:
        c = self.cfg
        self.sim = sim
        self.slots: dict[int, Numab2Slot] = {}
        n = sim.n_pages
        self.mark_time = np.full(n, -1, dtype=np.int64)
        self.fault_time = np.full(n, np.inf)
        self.buckets: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.tick_us = c.numab_tick_ms * 1000
        self.dst = sim.mem.node_ids.index(c.target_node)
        self.threshold_us = c.hot_threshold_ms * 1000
        self.rate_limit_pages = c.promote_rate_limit_mbps * MIB / sim.page_bytes
        self.window = -1
        self.window_cand = 0
        self.nr_cand = 0
        self.last_nr_cand = 0
        self.pending = 0
        sim.schedule(self.tick_us, PRIO_POLICY + 1, self._tick)
        adjust_us = int(c.threshold_adjust_s * 1e6)
        sim.schedule(adjust_us, PRIO_POLICY + 2, self._adjust)

    def on_mm_start(self, sim: Sim, mm: MMState) -> None:
        self.slots[mm.spec.index] = Numab2Slot()
        sim.schedule(sim.t + self.cfg.first_scan_delay_ms * 1000, PRIO_POLICY,
                     lambda m=mm: self._mark(m))

    def queue_length(self) -> int:
        return self.pending

    # --------------------------------------------------------------- marking
    def _mark(self, mm: MMState) -> None:
        if not mm.alive:
            return
        sim, c = self.sim, self.cfg
        self._faults_until(sim.t)
        s = mm.spec
        n = s.hi - s.lo
        want = min(n, c.numab_scan_size_mb * MIB // sim.page_bytes)
        slot = self.slots[s.index]
        cur = slot.cursor
        stop = min(cur + want, n)
        lo, hi = s.lo + cur, s.lo + stop
        slot.cursor = 0 if stop >= n else stop
        marked = self._rule_mark(lo, hi)
        sim.cpu_ns.app_mark += (hi - lo) * sim.costs.numab_mark_pte_ns
        sim.counters.ptes_scanned += hi - lo
        sim.counters.mm_scans += 1
        self.pending += marked
        sim.schedule(sim.t + c.numab_scan_period_ms * 1000, PRIO_POLICY, lambda: self._mark(mm))

    def _rule_mark(self, lo: int, hi: int) -> int:
        """Mark the slow-tier pages of [lo, hi) PROT_NONE; compute each one's
        next access (its hint fault) and file it in its tick bucket."""
        sim, mem = self.sim, self.sim.mem
        pages = lo + np.flatnonzero(~mem.node_is_fast[mem.node[lo:hi]])
        if len(pages) == 0:
            return 0
        ft = sim.bits.next_access_after(pages, sim.t)
        self.mark_time[pages] = sim.t
        self.fault_time[pages] = ft
        due = ft <= sim.end_us
        pages, ft = pages[due], ft[due]
        if len(pages) == 0:
            return 0
        tick = np.ceil(ft / self.tick_us).astype(np.int64)
        order = np.argsort(tick, kind="stable")
        pages, ft, tick = pages[order], ft[order], tick[order]
        cuts = np.flatnonzero(np.diff(tick)) + 1
        for p, f, k in zip(np.split(pages, cuts), np.split(ft, cuts), tick[np.r_[0, cuts]],
                           strict=True):
            self.buckets.setdefault(int(k), []).append((p, f))
        return len(pages)

    # ---------------------------------------------------------------- faults
    def _tick(self) -> None:
        sim = self.sim
        self._faults_until(sim.t)
        sim.schedule(sim.t + self.tick_us, PRIO_POLICY + 1, self._tick)

    def _faults_until(self, t: int) -> None:
        k_now = t // self.tick_us
        keys = sorted(k for k in self.buckets if k <= k_now)
        if not keys:
            return
        parts = [x for k in keys for x in self.buckets.pop(k)]
        pages = np.concatenate([p for p, _ in parts])
        ft = np.concatenate([f for _, f in parts])
        self.pending -= len(pages)
        live = self.fault_time[pages] == ft  # re-marked or freed pages are stale
        live &= self.sim.mem.node[pages] >= 0
        pages, ft = pages[live], ft[live]
        if len(pages) == 0:
            return
        order = np.lexsort((pages, ft))
        pages, ft = pages[order], ft[order]
        # A page marked again before its fault comes can be filed twice with the
        # same fault time (counts form); PROT_NONE twice is still one fault.
        once = np.r_[True, pages[1:] != pages[:-1]]
        pages, ft = pages[once], ft[once]
        self.fault_time[pages] = np.inf
        self._rule_faults(pages, ft, t)

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        """Hint faults in time order: promote if free memory is plenty, else if
        the fault latency is under the threshold and the rate limit allows,
        and only while the destination stays above its high watermark."""
        sim, costs, d = self.sim, self.sim.costs, self.dst
        mem, ctr = sim.mem, sim.counters
        n = len(pages)
        ctr.hint_faults += n
        sim.cpu_ns.app_fault += n * costs.hint_fault_us * 1000
        slow = ~mem.node_is_fast[mem.node[pages]]
        idx = np.flatnonzero(slow)
        # Phase A: plenty of free memory, promote at once (no threshold, no limit).
        plenty = max(int(mem.free[d] - mem.wmark_promo[d]), 0)
        a = idx[:plenty]
        rest = idx[plenty:]
        free_after_a = int(mem.free[d]) - len(a)
        # Phase B: latency check, then the rate limit, then the watermark.
        latency = ft[rest] - self.mark_time[pages[rest]]
        cand = rest[latency < self.threshold_us]
        ctr.failed_not_candidate += len(rest) - len(cand)
        window = t // 1_000_000
        if window != self.window:
            self.window, self.window_cand = window, 0
        allowed = max(int(self.rate_limit_pages) - self.window_cand, 0)
        self.window_cand += len(cand)
        self.nr_cand += len(cand)
        passed = cand[:allowed]
        ctr.failed_rate_limited += len(cand) - len(passed)
        room = max(free_after_a - int(mem.wmark_high[d]), 0)
        b = passed[:room]
        if len(passed) > room:
            ctr.failed_dest_watermark += len(passed) - room
            mem.wake_kswapd(d)
        moved = pages[np.concatenate([a, b])]
        mem.move(moved, d, "promote")
        sim.cpu_ns.app_fault += len(moved) * (costs.migrate_page_us + costs.tlb_shootdown_us) * 1000

    def _adjust(self) -> None:
        """numa_promotion_adjust_threshold: move the threshold toward the rate limit."""
        sim, c = self.sim, self.cfg
        period_s = c.threshold_adjust_s
        ref_th = c.hot_threshold_ms * 1000
        unit = ref_th * 2 // ADJUST_STEPS
        ref_cand = self.rate_limit_pages * period_s
        diff = self.nr_cand - self.last_nr_cand
        self.last_nr_cand = self.nr_cand
        if diff > ref_cand * 11 / 10:
            self.threshold_us = max(self.threshold_us - unit, unit)
        elif diff < ref_cand * 9 / 10:
            self.threshold_us = min(self.threshold_us + unit, ref_th * 2)
        sim.schedule(sim.t + int(period_s * 1e6), PRIO_POLICY + 2, self._adjust)
