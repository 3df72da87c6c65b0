"""Reference twin of the kmmscand migration thread's entry rule."""

from __future__ import annotations

import numpy as np

from harness.model.kernels.records import N_OUTCOMES, Outcome
from harness.model.memory import PG_IDLE, PG_REFERENCED, PG_YOUNG
from harness.model.policies._kmmscand import Migrator
from harness.model.policies._kmmscand.migrator import Processed

OK, NOT_HOT, SAME_NODE = Outcome.OK, Outcome.NOT_HOT, Outcome.SAME_NODE
INELIGIBLE, WATERMARK = Outcome.INELIGIBLE, Outcome.WATERMARK


class ReferenceMigrator(Migrator):
    def _rule_process(self, n: int, start: int, bound: int, budget: int | None) -> Processed:
        """Entry by entry in list order on the thread's clock: the pass stops at
        an entry not yet on the list when the previous one ends, at one that
        would end after `bound`, and once `budget` pages were promoted. The first failing check gives
        the outcome; a promoted page moves when its entry ends."""
        pages, vis = self.queue.peek(n)
        mm_idx = self.sim.mm_of(pages)
        dst = self._targets()[mm_idx]
        mem = self.sim.mem
        reasons: list[int] = []
        ends: list[int] = []
        clock = start
        promoted = 0
        for p, d, v in zip(pages, dst, vis, strict=True):
            if budget is not None and promoted >= budget:
                break
            if v > clock / 1000:
                break
            p, d = int(p), int(d)
            src = int(mem.node[p])
            f = int(mem.pgflags[p])
            if self.cfg.hot_check and not (not f & PG_IDLE and f & (PG_YOUNG | PG_REFERENCED)):
                r = NOT_HOT
            elif src == d:
                r = SAME_NODE
            elif mem.node_is_fast[src]:
                r = INELIGIBLE
            elif mem.free[d] <= mem.wmark_high[d]:
                r = WATERMARK
            else:
                r = OK
            end = clock + int(self.cost_ns[r])
            if end > bound:
                break
            if r == OK:
                mem.move(np.array([p]), d, "promote", at_us=np.array([end / 1000]))
                promoted += 1
            reasons.append(r)
            ends.append(end)
            clock = end
        k = len(reasons)
        reason = np.array(reasons, dtype=np.int64)
        nm, mm_idx = len(self.sim.mms), mm_idx[:k]
        full = np.zeros(mem.n_nodes, dtype=bool)
        full[dst[:k][reason == WATERMARK]] = True
        return Processed(k, ends[-1] if k else start, np.bincount(reason, minlength=N_OUTCOMES),
                         np.bincount(mm_idx, minlength=nm),
                         np.bincount(mm_idx[reason == OK], minlength=nm), full)
