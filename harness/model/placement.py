"""Placement: where a process's pages go when it starts (both placements, the
policy's and the `none` baseline's) and their release when it exits; a
mixin of Memory, whose state it declares here.

Page-level rule with a per-page reference twin (reference/_memory.py):
``_place``.
"""

from __future__ import annotations

import numpy as np

from harness.errors import ConfigError
from harness.model.workloads import MMSpec


class Placement:
    """Initial placement and release of an mm's pages, on Memory's state."""

    name: str               # the run's, for errors
    n_nodes: int
    node: np.ndarray        # the policy's placement: node per page, -1 unallocated
    free: np.ndarray        # its free pages per node
    base_node: np.ndarray   # the `none` baseline's placement
    base_free: np.ndarray
    pgflags: np.ndarray
    rate: np.ndarray        # access rate per page
    node_rate: np.ndarray   # rates by node (the policy's placement)
    fast_rate: float
    base_fast_rate: float
    node_is_fast: np.ndarray
    fast_nodes: np.ndarray
    slow_nodes: np.ndarray
    wmark_high: np.ndarray

    def place(self, s: MMSpec) -> None:
        """A process starts: place its pages (both placements), count its rates."""
        self.free[:] = self._place(s, self.node, self.free)  # in place: the kernels' record
        self.base_free = self._place(s, self.base_node, self.base_free)
        self.pgflags[s.lo:s.hi] = 0  # newly faulted: not idle, not young
        r = self.rate[s.lo:s.hi]
        self.node_rate += np.bincount(self.node[s.lo:s.hi], weights=r, minlength=self.n_nodes)
        self.fast_rate += float(r[self.node_is_fast[self.node[s.lo:s.hi]]].sum())
        self.base_fast_rate += float(r[self.node_is_fast[self.base_node[s.lo:s.hi]]].sum())

    def release(self, s: MMSpec) -> None:
        """A process exits: free its pages. Its rates are already zero (the
        segment's exit phase came first)."""
        nodes = self.node[s.lo:s.hi]
        alloc = nodes >= 0
        self.node_rate -= np.bincount(nodes[alloc], weights=self.rate[s.lo:s.hi][alloc],
                                      minlength=self.n_nodes)
        for node, free in ((self.node, self.free), (self.base_node, self.base_free)):
            nodes = node[s.lo:s.hi]
            free += np.bincount(nodes[nodes >= 0], minlength=self.n_nodes)
            node[s.lo:s.hi] = -1
        self.pgflags[s.lo:s.hi] = 0

    def _place(self, s: MMSpec, node: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Initial placement of an mm's pages in page order (slices, no per-page loop)."""
        free = free.copy()
        n = s.hi - s.lo
        fast, slow = list(self.fast_nodes), list(self.slow_nodes)
        room_fast = [max(int(free[d] - self.wmark_high[d]), 0) for d in fast]
        if s.placement == "split":
            j = np.arange(n, dtype=np.float64)
            want = np.floor((j + 1) * s.split_fast_share) > np.floor(j * s.split_fast_share)
            idx_fast, idx_slow = np.flatnonzero(want), np.flatnonzero(~want)
            groups = [(idx_fast, [(d, r) for d, r in zip(fast, room_fast, strict=True)]),
                      (idx_slow, [(d, int(free[d])) for d in slow])]
            spill = []
            for idx, targets in groups:
                pos = 0
                for d, room in targets:
                    k = min(room, len(idx) - pos)
                    node[s.lo + idx[pos:pos + k]] = d
                    free[d] -= k
                    pos += k
                spill.append(idx[pos:])
            rest = np.concatenate(spill)
            order = [(d, int(free[d])) for d in slow + fast]
        else:
            rest = None  # every page, in order: slices, not an index array
            if s.placement == "slow":
                order = [(d, int(free[d])) for d in slow] + list(zip(fast, room_fast, strict=True))
            elif s.placement == "fast":
                order = [(d, int(free[d])) for d in fast] + [(d, int(free[d])) for d in slow]
            else:  # first_touch: fast nodes down to their high watermark, then slow
                order = list(zip(fast, room_fast, strict=True)) + [(d, int(free[d])) for d in slow]
        n_rest = n if rest is None else len(rest)

        def put(pos: int, k: int, d: int) -> None:
            if rest is None:
                node[s.lo + pos:s.lo + pos + k] = d
            else:
                node[s.lo + rest[pos:pos + k]] = d

        pos = 0
        for d, room in order:
            k = min(room, int(free[d]), n_rest - pos)
            if k <= 0:
                continue
            put(pos, k, d)
            free[d] -= k
            pos += k
        if pos < n_rest:
            # Last resort: any free page anywhere (fast nodes below their watermark).
            for d in range(self.n_nodes):
                k = min(int(free[d]), n_rest - pos)
                put(pos, k, d)
                free[d] -= k
                pos += k
        if pos < n_rest:
            raise ConfigError(f"{self.name}: workloads: process {s.index} does not fit in "
                              "the free memory when it starts")
        return free
