"""`oracle`: the fast tier always holds the truly hottest pages (upper bound).

Re-placed at every rate change; its migrations are counted but cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.model.core import PRIO_POLICY
from harness.model.policies._base import Policy

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim
    from harness.model.workloads import Segment


class OraclePolicy(Policy):
    name = "oracle"

    def start(self, sim: Sim) -> None:
        self.sim = sim
        self.dirty = True
        sim.schedule(0, PRIO_POLICY, self._place)

    def on_phase(self, sim: Sim, segment: Segment) -> None:
        self._schedule()

    def on_mm_start(self, sim: Sim, mm: MMState) -> None:
        self._schedule()

    def _schedule(self) -> None:
        if not self.dirty:
            self.dirty = True
            self.sim.schedule(self.sim.t, PRIO_POLICY, self._place)

    def _place(self) -> None:
        self.dirty = False
        mem = self.sim.mem
        hot = self._rule_hottest()
        on_fast = mem.node_is_fast[mem.node]
        out = np.flatnonzero(on_fast & ~hot)
        into = np.flatnonzero(hot & ~on_fast)
        # Swap pairwise (an incoming page takes the node of an outgoing one),
        # then fill free fast room down to the high watermark.
        k = min(len(out), len(into))
        out_nodes, in_nodes = mem.node[out[:k]].copy(), mem.node[into[:k]].copy()
        mem.move(out[:k], in_nodes, "demote", shootdown=False)
        mem.move(into[:k], out_nodes, "promote", shootdown=False)
        rest = into[k:]
        for d in mem.fast_nodes:
            room = max(int(mem.free[d] - mem.wmark_high[d]), 0)
            take, rest = rest[:room], rest[room:]
            mem.move(take, int(d), "promote", shootdown=False)

    def _rule_hottest(self) -> np.ndarray:
        """The K allocated pages with the highest rate (ties: lowest index),
        K = fast capacity down to the high watermarks; zero-rate pages never count."""
        mem = self.sim.mem
        k = int(sum(mem.capacity[d] - mem.wmark_high[d] for d in mem.fast_nodes))
        r = np.where(mem.node >= 0, mem.rate, -1.0)
        hot = np.zeros(mem.n_pages, dtype=bool)
        positive = int((r > 0).sum())
        k = min(k, positive)
        if k == 0:
            return hot
        v = np.partition(r, len(r) - k)[len(r) - k]
        above = r > v
        hot[above] = True
        ties = np.flatnonzero(r == v)[: k - int(above.sum())]
        hot[ties] = True
        return hot
