"""Reference twin of the kmmscand migration thread's entry rule."""

from __future__ import annotations

import numpy as np

from harness.model.policies._kmmscand import Migrator
from harness.model.policies._kmmscand.migrator import INELIGIBLE, NOT_HOT, OK, SAME_NODE, WATERMARK


class ReferenceMigrator(Migrator):
    def _rule_migrate(self, pages: np.ndarray, dst: np.ndarray, budget: int | None) -> np.ndarray:
        """Entry by entry in list order; the first failing check gives the reason.
        With a budget, the pass stops once `budget` pages have been promoted."""
        sim, mem = self.sim, self.sim.mem
        reasons: list[int] = []
        promoted = 0
        for p, d in zip(pages, dst, strict=True):
            if budget is not None and promoted >= budget:
                break
            p, d = int(p), int(d)
            src = int(mem.node[p])
            if self.cfg.hot_check and not sim.bits.peek(np.array([p]))[0]:
                r = NOT_HOT
            elif src == d:
                r = SAME_NODE
            elif mem.node_is_fast[src]:
                r = INELIGIBLE
            elif mem.free[d] <= mem.wmark_high[d]:
                r = WATERMARK
            else:
                mem.move(np.array([p]), d, "promote")
                promoted += 1
                r = OK
            reasons.append(r)
        return np.array(reasons, dtype=np.int8)
