"""Reference twins of the oracle and none policies."""

from __future__ import annotations

import numpy as np

from harness.model.policies._none import NonePolicy
from harness.model.policies._oracle import OraclePolicy


class ReferenceOraclePolicy(OraclePolicy):
    def _rule_hottest(self) -> np.ndarray:
        mem = self.sim.mem
        k = int(sum(mem.capacity[d] - mem.wmark_high[d] for d in mem.fast_nodes))
        live = [p for p in range(mem.n_pages) if mem.node[p] >= 0 and mem.rate[p] > 0]
        live.sort(key=lambda p: (-mem.rate[p], p))
        hot = np.zeros(mem.n_pages, dtype=bool)
        for p in live[:k]:
            hot[p] = True
        return hot


class ReferenceNonePolicy(NonePolicy):
    """No per-page rules."""
