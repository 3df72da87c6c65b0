"""The metrics' feed: access rates per page and their sums by where pages
are (the fast tier's, the baseline's, each node's, the total), kept as rates
change; a mixin of Memory, whose state it declares here. Moves keep the sums
too (Memory.move)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.model.workloads import Segment


class RateFeed:
    """Rates by where pages are, on Memory's state."""

    n_nodes: int
    node: np.ndarray
    base_node: np.ndarray
    node_is_fast: np.ndarray
    rate: np.ndarray        # per page (per s)
    node_rate: np.ndarray   # sum by node
    fast_rate: float        # sum on the fast tier (the policy's placement)
    base_fast_rate: float   # ... the `none` baseline's
    total_rate: float

    def set_rates(self, seg: Segment, rates: np.ndarray, placed: bool) -> None:
        """New access rates of a segment's pages; `placed`: some of its processes
        started (before that, only the total changes)."""
        lo, hi = seg.lo, seg.hi
        if not placed:
            self.total_rate += float(rates.sum() - self.rate[lo:hi].sum())
            self.rate[lo:hi] = rates
            return
        old = self.rate[lo:hi]
        fast = self.node_is_fast[self.node[lo:hi]]
        base_fast = self.node_is_fast[self.base_node[lo:hi]]
        delta = rates - old
        nodes = self.node[lo:hi]
        alloc = nodes >= 0
        self.node_rate += np.bincount(nodes[alloc], weights=delta[alloc], minlength=self.n_nodes)
        self.fast_rate += float(delta[fast].sum())
        self.base_fast_rate += float(delta[base_fast].sum())
        self.total_rate += float(delta.sum())
        self.rate[lo:hi] = rates
