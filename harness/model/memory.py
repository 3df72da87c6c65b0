"""Memory: nodes, where each page is, free pages and watermarks, page moves,
kswapd, and the access rates by where pages are.

Two placements are kept side by side: the policy's (``node``, ``free``) and
the `none` baseline's on the same workload (``base_node``, ``base_free``),
which only initial placement changes. Node indices are positions in the
platform's nodes sorted by id; -1 is an unallocated page.

Page-level rules that have a per-page reference twin (``reference.py``) are
``_place``, ``count_nodes``, ``move`` and ``_rule_kswapd_victims``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from harness.config import RunConfig
from harness.errors import ConfigError
from harness.model.workloads import Layout, MMSpec

if TYPE_CHECKING:
    from harness.model.bits import PageBits
    from harness.model.counters import Counters
    from harness.model.workloads import Segment

# Page flags (bits of Memory.pgflags, one byte per page): the kernel's folio
# flags that the scanners and reclaim read. PG_idle and PG_young are
# CONFIG_PAGE_IDLE_FLAG's (page_idle.h); PG_referenced is the LRU's. They are
# per page index, so a move keeps them (folio_migrate_flags copies them).
PG_IDLE, PG_YOUNG, PG_REFERENCED = 1, 2, 4


class Memory:
    def __init__(self, cfg: RunConfig, layout: Layout, bits: PageBits, counters: Counters):
        self.name = cfg.name
        self.bits = bits
        self.counters = counters
        self.page_bytes = layout.page_bytes
        self.n_pages = n = layout.n_pages

        plat = cfg.platform
        nodes = sorted(plat.nodes, key=lambda n: n.id)
        self.node_ids = [d.id for d in nodes]
        self.n_nodes = len(nodes)
        cap = np.array([int(d.capacity_gb * (1 << 30)) // self.page_bytes for d in nodes],
                       dtype=np.int64)
        fast = np.array([d.tier == "fast" for d in nodes])
        if plat.fast_share_of_footprint is not None:
            fast_total = int(math.ceil(plat.fast_share_of_footprint * n))
            nf = int(fast.sum())
            cap[fast] = [fast_total // nf + (1 if i < fast_total % nf else 0) for i in range(nf)]
            cap[~fast] = np.maximum(cap[~fast], n)
        if n > cap.sum():
            raise ConfigError(
                f"{cfg.name}: workloads: footprint of {n} pages exceeds the platform's "
                f"{int(cap.sum())} pages")
        self.capacity = cap
        self.free = cap.copy()
        # Index -1 (unallocated page) maps to the extra last entry: not fast.
        self.node_is_fast = np.append(fast, False)
        self.fast_nodes = np.flatnonzero(fast)
        self.slow_nodes = np.flatnonzero(~fast)
        self.wmark_high = np.ceil(cap * plat.wmark_high_pct / 100).astype(np.int64)
        self.wmark_promo = np.maximum(np.ceil(cap * plat.wmark_promo_pct / 100).astype(np.int64),
                                      self.wmark_high + 1)
        self.kswapd_enabled = plat.kswapd
        self.kswapd_pending: set[int] = set()
        self.kswapd_hand = np.zeros(self.n_nodes, dtype=np.int64)

        self.node = np.full(n, -1, dtype=np.int8)
        self.pgflags = np.zeros(n, dtype=np.uint8)  # PG_IDLE | PG_YOUNG | PG_REFERENCED
        self.was_demoted = np.zeros(n, dtype=bool)
        self.base_node = np.full(n, -1, dtype=np.int8)
        self.base_free = cap.copy()

        # Access rates (per s) of each page and their sums by where pages are.
        self.rate = np.zeros(n)
        self.fast_rate = 0.0
        # rate x us the fast tier did not serve before pages moved at their own
        # times inside an event (move's at_us); Metrics takes it back.
        self.fast_lag = 0.0
        # Pages moved in the current event at a later time (at_us), with that
        # time: a second move of one of them in the same event (kswapd's
        # demotion of a page just promoted) is not counted before the first.
        self._later_t = -1
        self._later_pages = np.zeros(0, dtype=np.int64)
        self._later_at = np.zeros(0)
        self.total_rate = 0.0
        self.base_fast_rate = 0.0
        self.node_rate = np.zeros(self.n_nodes)

    # ------------------------------------------------------------- rates
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

    # ------------------------------------------------- process start, exit
    def place(self, s: MMSpec) -> None:
        """A process starts: place its pages (both placements), count its rates."""
        self.free = self._place(s, self.node, self.free)
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
            rest = np.arange(n)
            if s.placement == "slow":
                order = [(d, int(free[d])) for d in slow] + list(zip(fast, room_fast, strict=True))
            elif s.placement == "fast":
                order = [(d, int(free[d])) for d in fast] + [(d, int(free[d])) for d in slow]
            else:  # first_touch: fast nodes down to their high watermark, then slow
                order = list(zip(fast, room_fast, strict=True)) + [(d, int(free[d])) for d in slow]
        pos = 0
        for d, room in order:
            k = min(room, int(free[d]), len(rest) - pos)
            if k <= 0:
                continue
            node[s.lo + rest[pos:pos + k]] = d
            free[d] -= k
            pos += k
        if pos < len(rest):
            # Last resort: any free page anywhere (fast nodes below their watermark).
            for d in range(self.n_nodes):
                k = min(int(free[d]), len(rest) - pos)
                node[s.lo + rest[pos:pos + k]] = d
                free[d] -= k
                pos += k
        if pos < len(rest):
            raise ConfigError(f"{self.name}: workloads: process {s.index} does not fit in "
                              "the free memory when it starts")
        return free

    # ------------------------------------------------------ page helpers
    def count_nodes(self, nodes: np.ndarray) -> np.ndarray:
        """Pages per node; unallocated pages (-1) are not counted. A compare per
        node: cheaper than bincount's cast of int8."""
        if self.n_nodes == 2:
            return np.array([np.count_nonzero(nodes == 0), np.count_nonzero(nodes == 1)],
                            dtype=np.int64)
        return np.array([np.count_nonzero(nodes == d) for d in range(self.n_nodes)],
                        dtype=np.int64)

    def slow_mask(self, nodes: np.ndarray) -> np.ndarray:
        """Which of these (allocated) pages are on a slow-tier node."""
        if len(self.fast_nodes) == 1:
            return nodes != int(self.fast_nodes[0])
        return ~self.node_is_fast[nodes]

    def move(self, pages: np.ndarray, dst: np.ndarray | int, kind: str,
             shootdown: bool = True, at_us: np.ndarray | None = None) -> None:
        """Move pages to dst node(s); kind is 'promote' or 'demote'. Each moved page
        needs a TLB shootdown, which stalls every thread of the workload (only the
        oracle moves for free). The page flags stay (folio_migrate_flags copies
        them to the new folio).
        at_us: each page's own move time (float us, inside the calling thread's
        chunk, e.g. when its migration-list entry completes; default: now); the
        hit accounting counts the page on its old tier until then."""
        if len(pages) == 0:
            return
        c = self.counters
        src = self.node[pages].astype(np.int64)
        dst = np.broadcast_to(np.asarray(dst, dtype=np.int64), src.shape)
        r = self.rate[pages]
        was_fast, now_fast = self.node_is_fast[src], self.node_is_fast[dst]
        self.fast_rate += float(r[now_fast & ~was_fast].sum() - r[was_fast & ~now_fast].sum())
        at_us = self._move_times(pages, at_us)
        if at_us is not None:
            gain = np.where(now_fast, r, 0.0) - np.where(was_fast, r, 0.0)
            self.fast_lag += float(gain @ (at_us - self.bits.core.now))
        self.node_rate += (np.bincount(dst, weights=r, minlength=self.n_nodes)
                           - np.bincount(src, weights=r, minlength=self.n_nodes))
        if shootdown:
            c.shootdowns += len(pages)
        self.free += np.bincount(src, minlength=self.n_nodes)
        self.free -= np.bincount(dst, minlength=self.n_nodes)
        self.node[pages] = dst
        if kind == "promote":
            c.promotions += len(pages)
            c.pingpong += int(self.was_demoted[pages].sum())
            self.was_demoted[pages] = False
        else:
            c.demotions += len(pages)
            self.was_demoted[pages] = True

    def _move_times(self, pages: np.ndarray, at_us: np.ndarray | None) -> np.ndarray | None:
        """Each page's move time for the hit accounting (None: now): not before
        an earlier move of the same page in this event, and remembered when
        later than now."""
        now = self.bits.core.now
        if self._later_t != now:
            self._later_t = now
            self._later_pages = np.zeros(0, dtype=np.int64)
            self._later_at = np.zeros(0)
        if len(self._later_pages):
            pos = np.searchsorted(self._later_pages, pages)
            pos[pos == len(self._later_pages)] = 0
            hit = self._later_pages[pos] == pages
            if hit.any():
                at_us = (np.full(len(pages), float(now)) if at_us is None
                         else np.array(at_us, dtype=np.float64))
                at_us[hit] = np.maximum(at_us[hit], self._later_at[pos[hit]])
        if at_us is None:
            return None
        at_us = np.asarray(at_us, dtype=np.float64)
        later = at_us > now
        if later.any():
            p = np.concatenate([self._later_pages, np.asarray(pages)[later]])
            a = np.concatenate([self._later_at, at_us[later]])
            order = np.lexsort((a, p))
            p, a = p[order], a[order]
            last = np.append(p[1:] != p[:-1], True)  # the latest time of each page
            self._later_pages, self._later_at = p[last], a[last]
        return at_us

    # ------------------------------------------------------------ kswapd
    def wake_kswapd(self, node: int) -> None:
        """Ask for reclaim on a node; it runs after the current event."""
        if self.kswapd_enabled:
            self.kswapd_pending.add(int(node))

    def kswapd(self) -> None:
        """Demote from each woken node until its free pages reach the promotion
        watermark, to the slow node with the most free pages."""
        nodes, self.kswapd_pending = sorted(self.kswapd_pending), set()
        for d in nodes:
            need = int(self.wmark_promo[d] - self.free[d])
            if need <= 0:
                continue
            self.counters.kswapd_runs += 1
            while need > 0:
                dest = int(self.slow_nodes[np.argmax(self.free[self.slow_nodes])])
                k = min(need, int(self.free[dest]))
                if k <= 0:
                    break
                victims = self._rule_kswapd_victims(d, k)
                if len(victims) == 0:
                    break
                self.move(victims, dest, "demote")
                need -= len(victims)

    def _rule_kswapd_victims(self, d: int, need: int) -> np.ndarray:
        """CLOCK over page indices from node d's hand. Each page of node d it
        examines has its A bit tested and cleared (reclaim's rmap walk, which
        also hides that access from a later scan); a page that was accessed or
        carries PG_referenced or PG_young loses both flags and is skipped
        (second chance); any other
        page is demoted, once (the second turn passes over the first turn's
        victims). Stops after `need` victims or two full turns; the hand stays
        after the last page examined."""
        n = self.n_pages
        bits = self.bits
        hand = int(self.kswapd_hand[d])
        found: list[np.ndarray] = []
        got = 0
        scanned = 0
        chunk = max(4 * need, 1 << 16)
        taken = None  # victims so far, once the scan goes past its first chunk
        while got < need and scanned < 2 * n:
            hi = min(hand + chunk, n, hand + 2 * n - scanned)
            on = self.node[hand:hi] == d
            if taken is not None:
                on &= ~taken[hand:hi]
            pos = np.flatnonzero(on)
            young = bits.peek_range(hand, hi)[pos]  # what the test-and-clear below finds
            keep = young | ((self.pgflags[hand:hi][pos] & (PG_REFERENCED | PG_YOUNG)) != 0)
            cand = pos[~keep]
            if len(cand) >= need - got:
                last = int(cand[need - got - 1])
                found.append(hand + cand[:need - got])
                upto = int(np.searchsorted(pos, last, side="right"))
                pos, young = pos[:upto], young[:upto]
                step = last + 1
                got = need
            else:
                found.append(hand + cand)
                got += len(cand)
                if taken is None:
                    taken = np.zeros(n, dtype=bool)
                taken[hand + cand] = True
                step = hi - hand
            bits.test_and_clear_pages(hand + pos[young])
            self.pgflags[hand + pos] &= ~np.uint8(PG_REFERENCED | PG_YOUNG)
            scanned += step
            hand += step
            if hand >= n:
                hand = 0
        self.kswapd_hand[d] = hand
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
