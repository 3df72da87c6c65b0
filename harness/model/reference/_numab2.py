"""Reference twin of NUMAB2's marking and fault rules."""

from __future__ import annotations

import math

import numpy as np

from harness.model.policies._numab2 import Numab2Policy


class ReferenceNumab2Policy(Numab2Policy):
    def _rule_mark(self, lo: int, hi: int) -> int:
        sim, mem = self.sim, self.sim.mem
        filed = 0
        for p in range(lo, hi):
            if mem.node_is_fast[mem.node[p]]:
                continue  # only slow-tier pages are marked
            ft = float(sim.bits.next_access_after(np.array([p]), sim.t)[0])
            self.mark_time[p] = sim.t
            self.fault_time[p] = ft
            if ft <= sim.end_us:
                tick = math.ceil(ft / self.tick_us)
                self.buckets.setdefault(tick, []).append(
                    (np.array([p], dtype=np.int64), np.array([ft])))
                filed += 1
        return filed

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        sim, costs, d = self.sim, self.sim.costs, self.dst
        mem, ctr = sim.mem, sim.counters
        n = len(pages)
        ctr.hint_faults += n
        sim.cpu_ns.app_fault += n * costs.hint_fault_us * 1000
        window = t // 1_000_000
        if window != self.window:
            self.window, self.window_cand = window, 0
        limit = int(self.rate_limit_pages)
        moved = 0
        for p, f in zip(pages, ft, strict=True):
            p = int(p)
            if mem.node_is_fast[mem.node[p]]:
                continue
            if mem.free[d] > mem.wmark_promo[d]:
                # Plenty of free memory: promote at once.
                mem.move(np.array([p]), d, "promote")
                moved += 1
                continue
            if f - self.mark_time[p] >= self.threshold_us:
                ctr.failed_not_candidate += 1
                continue
            allowed = self.window_cand < limit
            self.window_cand += 1
            self.nr_cand += 1
            if not allowed:
                ctr.failed_rate_limited += 1
            elif mem.free[d] > mem.wmark_high[d]:
                mem.move(np.array([p]), d, "promote")
                moved += 1
            else:
                ctr.failed_dest_watermark += 1
                mem.wake_kswapd(d)
        sim.cpu_ns.app_fault += moved * (costs.migrate_page_us + costs.tlb_shootdown_us) * 1000
