"""Memory: nodes, where each page is, free pages and watermarks, page moves;
placement (placement.py), the access rates by where pages are (rates.py) and
kswapd (kswapd.py) are mixed in, each declaring the state it reads.

Two placements are kept side by side: the policy's (``node``, ``free``) and
the `none` baseline's on the same workload (``base_node``, ``base_free``),
which only initial placement changes. Node indices are positions in the
platform's nodes sorted by id; -1 is an unallocated page.

Page-level rules that have a per-page reference twin (``reference/``) are
``count_nodes`` and ``move`` (placement.py: ``_place``; kswapd.py:
``_rule_kswapd_victims``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from harness.config import RunConfig
from harness.errors import ConfigError
from harness.model.kernels import add_moves, relocate
from harness.model.kernels.records import PG_IDLE as PG_IDLE  # re-exported for the model
from harness.model.kernels.records import PG_REFERENCED as PG_REFERENCED
from harness.model.kernels.records import PG_YOUNG as PG_YOUNG
from harness.model.kernels.records import SWAP_CLUSTER_MAX as SWAP_CLUSTER_MAX
from harness.model.kswapd import Kswapd
from harness.model.placement import Placement
from harness.model.rates import RateFeed
from harness.model.workloads import Layout

if TYPE_CHECKING:
    from harness.model.bits import PageBits
    from harness.model.counters import Counters, CpuTime

# Page flags (bits of Memory.pgflags): declared in kernels/records.py, whose
# compiled walks read them.



class Memory(Placement, RateFeed, Kswapd):
    """Nodes and node accounting (capacity, free pages, watermarks, where each
    page is) and page moves; placement (placement.py), the rate sums the
    metrics read (rates.py) and kswapd (kswapd.py) are mixed in."""

    def __init__(self, cfg: RunConfig, layout: Layout, bits: PageBits, counters: Counters,
                 cpu_ns: CpuTime, memory_tiering: bool = False):
        """memory_tiering: the policy runs NUMA balancing's memory-tiering mode
        (kswapd balances to the PROMO watermark)."""
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
        # MIN (GFP_NOWAIT allocations fail under it) and LOW (the allocator's
        # first try): slab.py's list entries.
        self.wmark_min = np.minimum(np.ceil(cap * plat.wmark_min_pct / 100).astype(np.int64),
                                    self.wmark_high)
        self.wmark_low = (self.wmark_min + self.wmark_high) // 2
        # Pages of a node that hold kernel objects (kmmscand's list entries),
        # not workload pages: capacity = workload pages + slab_pages + free.
        self.slab_pages = np.zeros(self.n_nodes, dtype=np.int64)
        self._init_kswapd(cfg, memory_tiering)
        self.cpu_ns = cpu_ns
        self.core = bits.core

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
        # Each page's last move time (us; at_us may be later than now): a
        # second move of a page before that time (kswapd's demotion of a page
        # the migration thread's chunk promotes later) is not counted before
        # the first.
        self.moved_at = np.full(n, -np.inf)
        self.total_rate = 0.0
        self.base_fast_rate = 0.0
        self.node_rate = np.zeros(self.n_nodes)
        # The kernels' records of this state, built once: the arrays change
        # in place only (page_state, node_state; moves' sums, zeroed each time).
        self._pages = (self.node, self.pgflags, self.moved_at, self.was_demoted, self.rate)
        self._nodes = (self.node_is_fast, self.free, self.wmark_high)
        self._move_sums = np.zeros(2 * self.n_nodes + 2)

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
             shootdown: bool = True, at_us: np.ndarray | None = None,
             src: int | None = None) -> None:
        """Move pages (distinct) to dst node(s); kind is 'promote' or 'demote'.
        Each moved page needs a TLB shootdown, which stalls every thread of the
        workload (only the oracle moves for free). The page flags stay
        (folio_migrate_flags copies them to the new folio).
        at_us: each page's own move time (float us, inside the calling thread's
        chunk, e.g. when its migration-list entry completes; default: now); the
        hit accounting counts the page on its old tier until then.
        src: the one node all the pages are on, when the caller knows it."""
        if len(pages) == 0:
            return
        promote = kind == "promote"
        if src is not None and at_us is not None:
            # A thread's moves from one node at their own times: per-page state
            # in one compiled pass, the sums here.
            at_us = np.array(at_us, dtype=np.float64)
            mv = self.moves()
            pingpong = relocate(self.page_state(), self.node_state(), mv, pages, at_us, int(src),
                                int(dst), promote)
            self._add_sums(mv)
        else:
            r = self.rate[pages]
            at_us = self._move_times(pages, at_us)
            src_a = self.node[pages].astype(np.int64)
            dst_a = np.broadcast_to(np.asarray(dst, dtype=np.int64), src_a.shape)
            was_fast, now_fast = self.node_is_fast[src_a], self.node_is_fast[dst_a]
            self.fast_rate += float(r[now_fast & ~was_fast].sum()
                                    - r[was_fast & ~now_fast].sum())
            if at_us is not None:
                gain = np.where(now_fast, r, 0.0) - np.where(was_fast, r, 0.0)
                self.fast_lag += float(gain @ (at_us - self.bits.core.now))
            self.node_rate += (np.bincount(dst_a, weights=r, minlength=self.n_nodes)
                               - np.bincount(src_a, weights=r, minlength=self.n_nodes))
            self.free += np.bincount(src_a, minlength=self.n_nodes)
            self.free -= np.bincount(dst_a, minlength=self.n_nodes)
            self.node[pages] = dst
            pingpong = int(np.count_nonzero(self.was_demoted[pages])) if promote else 0
            self.was_demoted[pages] = not promote
        self._count_moves(len(pages), promote, pingpong, shootdown)

    def _count_moves(self, n: int, promote: bool, pingpong: int, shootdown: bool = True) -> None:
        c = self.counters
        if shootdown:
            c.shootdowns += n
        if promote:
            c.promotions += n
            c.pingpong += pingpong
        else:
            c.demotions += n

    def moved(self, pages: np.ndarray, kind: str, pingpong: int, mv: tuple,
              at_us: np.ndarray) -> None:
        """Account the pages a compiled walk moved itself (kernels.move_page),
        each at its own time at_us; each needed its TLB shootdown. The walk
        applied the per-page state and added its rate sums by node to
        node_rate already (as _add_sums does): the pages and times are here
        for whoever watches the moves (the tests' move log), the fast tier's
        sums (mv's) to add."""
        fast, lag = mv[2].tolist()  # a Moves record's sums
        self.fast_rate += fast
        self.fast_lag += lag
        self._count_moves(len(pages), kind == "promote", pingpong)

    # ------------------------------------------- the compiled kernels' records
    # (plain tuples of the records' fields in order: see kernels/records.py)
    def page_state(self) -> tuple:
        """A Pages record (node, pgflags, moved_at, was_demoted, rate)."""
        return self._pages

    def node_state(self) -> tuple:
        """A Nodes record (node_is_fast, free, wmark_high)."""
        return self._nodes

    def moves(self) -> tuple:
        """A Moves record: zero sums for the moves of a compiled walk (now: the
        event's time), in arrays kept from move to move (each used until its
        sums are added)."""
        buf, k = self._move_sums, self.n_nodes
        buf.fill(0.0)
        return buf[:k], buf[k:2 * k], buf[2 * k:], float(self.bits.core.now)

    def _add_sums(self, mv: tuple) -> None:
        """The rate sums of pages moved by kernels.move_page: the rates by node
        the moves brought in and took out (sums in page order, as move's
        bincounts), the fast tier's rate change and its lag (sequential sums,
        where move's are pairwise: they differ in the last bits)."""
        # node_rate += node_in - node_out, element by element, and the fast
        # tier's two sums, in one compiled call (kernels.add_moves).
        self.fast_rate, self.fast_lag = add_moves(mv, self.node_rate, self.fast_rate,
                                                  self.fast_lag)

    def _move_times(self, pages: np.ndarray, at_us: np.ndarray | None) -> np.ndarray | None:
        """Each page's move time for the hit accounting (None: now): not before
        a move of the same page still in the future (another thread's chunk
        may run ahead, up to the thread quantum), and remembered when later
        than now (``moved_at``, per page)."""
        now = self.bits.core.now
        prev = self.moved_at[pages]
        hit = prev > now
        if hit.any():
            at_us = (np.full(len(pages), float(now)) if at_us is None
                     else np.array(at_us, dtype=np.float64))
            at_us[hit] = np.maximum(at_us[hit], prev[hit])
        if at_us is None:
            return None
        at_us = np.asarray(at_us, dtype=np.float64)
        self.moved_at[pages] = at_us
        return at_us
