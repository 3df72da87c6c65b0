"""Reference twin of the kmmscand scanner's page rule."""

from __future__ import annotations

import numpy as np

from harness.model.memory import PG_REFERENCED
from harness.model.policies._kmmscand import Scanner


class ReferenceScanner(Scanner):
    def _rule_scan_pages(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        sim, c = self.sim, self.cfg
        mem = sim.mem
        acc = sim.bits.test_and_clear(lo, hi)
        scanned = np.zeros(mem.n_nodes, dtype=np.int64)
        accessed = np.zeros(mem.n_nodes, dtype=np.int64)
        n_slow = 0
        queue: list[int] = []
        for p in range(lo, hi):
            d = int(mem.node[p])
            scanned[d] += 1
            young = bool(acc[p - lo])
            # x86 clears the A bit without a TLB flush: some accesses are missed.
            if young and c.a_bit_miss > 0 and self.miss_rng.random() < c.a_bit_miss:
                young = False
            candidate = False
            if young:
                accessed[d] += 1
                mem.pgflags[p] |= PG_REFERENCED
                if not mem.node_is_fast[d]:
                    n_slow += 1
                    candidate = True
            if self.prev_accessed is not None:
                # V3: queue only if the previous scan saw it accessed too.
                candidate = candidate and bool(self.prev_accessed[p])
                self.prev_accessed[p] = young
            if candidate and self.queued is not None:
                # De-duplication knob: a page already on the list is not queued again.
                if self.queued[p]:
                    candidate = False
                else:
                    self.queued[p] = True
            if candidate:
                queue.append(p)
        self.queue.push(np.array(queue, dtype=np.int64))
        return scanned, accessed, n_slow, len(queue)
