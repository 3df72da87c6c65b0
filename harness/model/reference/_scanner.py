"""Reference twin of the kmmscand scanner's page rule."""

from __future__ import annotations

import numpy as np

from harness.model.kernels.records import SCAN_KMMSCAND, SCAN_KSCAND_V2
from harness.model.memory import PG_IDLE, PG_REFERENCED, PG_YOUNG
from harness.model.policies._kmmscand import Scanner


class ReferenceScanner(Scanner):
    def _rule_scan_pages(self, lo: int, hi: int, scanned: np.ndarray,
                         accessed: np.ndarray) -> tuple[int, np.ndarray]:
        """hot_vma_idle_pte_entry, one PTE at a time in page order."""
        sim, c = self.sim, self.cfg
        mem = sim.mem
        acc = sim.bits.test_and_clear(lo, hi)
        n_slow = 0
        queue: list[int] = []
        for p in range(lo, hi):
            d = int(mem.node[p])
            scanned[d] += 1
            young = bool(acc[p - lo])
            # x86 clears the A bit without a TLB flush: some accesses are missed.
            if young and c.a_bit_miss > 0 and self.miss_stream.random() < c.a_bit_miss:
                young = False
            flags = int(mem.pgflags[p])
            slow = not mem.node_is_fast[d]
            if self.form in (SCAN_KMMSCAND, SCAN_KSCAND_V2):
                # V0-V2: page_idle_clear_pte_refs, the test, folio_set_idle
                # (V2: not for an accessed top-tier page, which returns first).
                if young:
                    flags = (flags & ~PG_IDLE) | PG_YOUNG
                is_acc = (not flags & PG_IDLE or bool(flags & PG_YOUNG)
                          or bool(flags & PG_REFERENCED) or young)
                if not (self.form == SCAN_KSCAND_V2 and is_acc and not slow):
                    flags |= PG_IDLE
            else:
                # V2+: (V3: prev_idle,) folio_set_idle, page_idle_clear_pte_refs, the test.
                prev_idle = bool(flags & PG_IDLE)
                flags |= PG_IDLE
                if young:
                    flags = (flags & ~PG_IDLE) | PG_YOUNG
                young_or_ref = bool(flags & (PG_YOUNG | PG_REFERENCED))
                if slow:
                    is_acc = (not flags & PG_IDLE and young_or_ref
                              and not (c.second_access and prev_idle))
                else:
                    is_acc = young_or_ref or young
            mem.pgflags[p] = flags
            if not is_acc:
                continue
            if not slow:
                accessed[d] += 1
                continue
            n_slow += 1
            queue.append(p)
        return n_slow, np.array(queue, dtype=np.int64)
