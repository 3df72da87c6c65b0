"""Reference twin of numa_balancing=1's marking and fault rules, one PTE or fault at a time."""

from __future__ import annotations

import numpy as np

from harness.model.policies._numab1 import Numab1Hinting


class ReferenceNumab1Hinting(Numab1Hinting):
    def _rule_change_prot_numa(self, lo: int, hi: int) -> int:
        sim = self.sim
        updated = 0
        for p in range(lo, hi):
            if self.prot_none[p]:
                continue  # already PROT_NONE: not updated (either tier is marked)
            self.prot_none[p] = True
            self.mark_time[p] = sim.t
            ft = float(sim.bits.next_access_after(np.array([p]), sim.t)[0])
            if ft <= sim.end_us:
                self._file(np.array([p], dtype=np.int64), np.array([ft]))
            updated += 1
        return updated

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        sim = self.sim
        for _ in pages:  # a fault costs its thread; nothing moves
            sim.counters.hint_faults += 1
            sim.cpu_ns.app_fault += sim.costs.hint_fault_us * 1000
