"""Physical frames of each node, for DAMON's physical-address monitoring.

The engine knows which node each page is on, not which frame of it: DAMON's
paddr operations set regions over a node's physical address range, so the
policy keeps a frame table per node. A page placed on or moved to a node
takes that node's lowest free frame (pages arriving together: in page
order); a page leaving frees its frame. The table is brought up to date
before DAMON looks at it, whenever anything moved since (the engine's move
counters, process start and exit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.model.engine import Sim


class FrameMap:
    def __init__(self, sim: Sim):
        self.sim = sim
        self.mem, self.bits = sim.mem, sim.bits
        mem = self.mem
        self.frame_page = [np.full(int(c), -1, dtype=np.int64) for c in mem.capacity]
        self.page_frame = np.full(mem.n_pages, -1, dtype=np.int64)
        self.node_seen = np.full(mem.n_pages, -1, dtype=np.int8)
        self.stamp: tuple | None = None
        self.dirty = True

    def _now_stamp(self) -> tuple:
        c = self.sim.counters
        return (c.promotions, c.demotions)

    def sync(self) -> None:
        """Bring the frame tables to the pages' nodes now."""
        stamp = self._now_stamp()
        if not self.dirty and stamp == self.stamp:
            return
        self.stamp, self.dirty = stamp, False
        node = self.mem.node
        changed = np.flatnonzero(node != self.node_seen)
        if len(changed) == 0:
            return
        old, new = self.node_seen[changed], node[changed]
        for d, table in enumerate(self.frame_page):
            leaving = changed[old == d]
            table[self.page_frame[leaving]] = -1
        self.page_frame[changed] = -1
        for d, table in enumerate(self.frame_page):
            arriving = changed[new == d]
            if len(arriving):
                free = np.flatnonzero(table < 0)[:len(arriving)]
                table[free] = arriving
                self.page_frame[arriving] = free
        self.node_seen[changed] = new

    def pages(self, d: int, frames: np.ndarray) -> np.ndarray:
        """The page in each frame of node d (-1: free)."""
        return self.frame_page[d][frames]

    def used(self, d: int) -> int:
        return int(self.mem.capacity[d] - self.mem.free[d])
