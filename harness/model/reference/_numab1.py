"""Reference twin of numa_balancing=1's fault rule, one fault at a time (its
marking is NUMAB2's reference rule with marks_top_tier)."""

from __future__ import annotations

import numpy as np

from harness.model.policies._numab1 import Numab1Hinting
from harness.model.reference._numab2 import ReferenceNumab2Policy


class ReferenceNumab1Hinting(Numab1Hinting, ReferenceNumab2Policy):
    # The marking: ReferenceNumab2Policy's per-page rule, with marks_top_tier.
    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        sim = self.sim
        for p in pages:  # a fault costs its thread; nothing moves; locality recorded
            sim.counters.hint_faults += 1
            sim.cpu_ns.app_fault += sim.costs.hint_fault_us * 1000
            d = int(self._cpu_nodes(1)[0])  # the faulting CPU's node: local or remote
            self._record_faults(np.array([p]), np.array([int(sim.mem.node[p]) == d]))
