"""Reference twin of NUMAB2's marking and fault rules, one PTE or fault at a time."""

from __future__ import annotations

import numpy as np

from harness.model.policies._numab2 import Numab2Policy
from harness.model.policies._numab_promote import RL_WINDOW_US


class ReferenceNumab2Policy(Numab2Policy):
    def _rule_vma_access(self, pages: np.ndarray) -> None:
        sim = self.sim
        for p in pages:  # vma_set_access_pid_bit, one fault at a time
            i = int(sim.mm_of(np.array([p]))[0])
            slot = self.slots.get(i)
            if slot is None:
                continue
            bounds = sim.mms[i].spec.vma_bounds
            v = 0
            while bounds[v + 1] <= p:
                v += 1
            if v in slot.vmas:
                slot.vmas[v].pids_active[1] = True

    def _rule_change_prot_numa(self, lo: int, hi: int) -> int:
        sim, mem = self.sim, self.sim.mem
        updated = 0
        for p in range(lo, hi):
            if (mem.node_is_fast[mem.node[p]] and not self.marks_top_tier) or self.prot_none[p]:
                continue  # top tier in tiering mode, or already PROT_NONE: not updated
            self.prot_none[p] = True
            self.mark_time[p] = sim.t
            ft = float(sim.bits.next_access_after(np.array([p]), sim.t)[0])
            if ft <= sim.end_us:
                self._file(np.array([p], dtype=np.int64), np.array([ft]))
            updated += 1
        return updated

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        sim, costs = self.sim, self.sim.costs
        mem, ctr = sim.mem, sim.counters
        n = len(pages)
        ctr.hint_faults += n
        sim.cpu_ns.app_fault += n * costs.hint_fault_us * 1000
        limit = self.rate_limit_pages
        moved = 0
        for p, f in zip(pages, ft, strict=True):
            p, f = int(p), float(f)
            d = int(self._cpu_nodes(1)[0])  # the faulting CPU's node
            if mem.node_is_fast[mem.node[p]]:
                # task_numa_fault records a top-tier page's fault.
                self._record_faults(np.array([p]), np.array([d == int(mem.node[p])]))
                continue
            st = self.promo[d]
            if mem.free[d] > self.enough_wmark[d]:
                # pgdat_free_space_enough: promote at once, reset the threshold.
                st.nbp_threshold = 0
                mem.move(np.array([p]), d, "promote", shootdown=False)
                moved += 1
                self._record_faults(np.array([p]), np.array([True]))  # now top tier, local
                continue
            if f - st.nbp_th_start > self.period_us:
                self._adjust_threshold(st, int(f))
            th = st.nbp_threshold or self.ref_th_us
            if f - self.mark_time[p] >= th:
                ctr.failed_not_candidate += 1
                continue
            # numa_promotion_rate_limit: count, maybe start a window, compare.
            st.nr_cand += 1
            if f - st.nbp_rl_start > RL_WINDOW_US:
                st.nbp_rl_start = f
                st.nbp_rl_nr_cand = st.nr_cand
            if st.nr_cand - st.nbp_rl_nr_cand >= limit:
                ctr.failed_rate_limited += 1
            elif mem.free[d] > mem.wmark_high[d]:
                mem.move(np.array([p]), d, "promote", shootdown=False)
                moved += 1
                self._record_faults(np.array([p]), np.array([True]))  # now top tier, local
            else:
                ctr.failed_dest_watermark += 1
                mem.wake_kswapd(d)
        sim.cpu_ns.app_fault += moved * costs.migrate_page_us * 1000
