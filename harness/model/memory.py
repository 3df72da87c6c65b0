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
from harness.model.core import PRIO_POLICY
from harness.model.kernels import PG_IDLE as PG_IDLE  # re-exported: the flags' home for the model
from harness.model.kernels import PG_REFERENCED as PG_REFERENCED
from harness.model.kernels import PG_YOUNG as PG_YOUNG
from harness.model.kernels import SWAP_CLUSTER_MAX, kswapd_clock, relocate
from harness.model.workloads import Layout, MMSpec

if TYPE_CHECKING:
    from harness.model.bits import PageBits
    from harness.model.counters import Counters, CpuTime
    from harness.model.workloads import Segment

# Page flags (bits of Memory.pgflags, one byte per page): the kernel's folio
# flags that the scanners and reclaim read. PG_idle and PG_young are
# CONFIG_PAGE_IDLE_FLAG's (page_idle.h); PG_referenced is the LRU's. They are
# per page index, so a move keeps them (folio_migrate_flags copies them).
# (Defined in kernels.py, whose compiled walks read them.)

# kswapd's thread runs after the policy threads of the same time, before the sampler.
PRIO_KSWAPD = PRIO_POLICY + 3
# SWAP_CLUSTER_MAX, reclaim's batch (pages): kswapd_shrink_node reclaims
# max(high watermark, it) a round; shrink_folio_list takes batches of it.


class Memory:
    def __init__(self, cfg: RunConfig, layout: Layout, bits: PageBits, counters: Counters,
                 cpu_ns: CpuTime):
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
        # pgdat_balanced: the PROMO watermark only in NUMA balancing's
        # memory-tiering mode (numa_balancing=2, the numab2 policy), else HIGH.
        self.memory_tiering = cfg.policy.kind == "numab2"
        self.kswapd_wmark = self.wmark_promo if self.memory_tiering else self.wmark_high
        self.kswapd_running = np.zeros(self.n_nodes, dtype=bool)
        self.kswapd_scanned = np.zeros(self.n_nodes, dtype=np.int64)  # this run's CLOCK steps
        self.kswapd_round = np.zeros(self.n_nodes, dtype=np.int64)  # victims left this round
        self._kswapd_stride = np.full(self.n_nodes, 8.0)  # CLOCK offsets per victim, last call
        self._no_bits, self._no_times = np.zeros(0, dtype=bool), np.zeros(0)
        self._clear_buf: np.ndarray | None = None
        self._rng0 = np.random.default_rng(0)  # a placeholder the walk does not draw from
        costs = cfg.costs
        self.kswapd_scan_ns = costs.kswapd_scan_ns
        self.kswapd_demote_ns = (costs.migrate_page_us + costs.tlb_shootdown_us) * 1000.0
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
        c = self.counters
        r = self.rate[pages]
        if src is not None and at_us is not None and isinstance(dst, int | np.integer):
            # The threads' moves: per-page state in one compiled pass, the sums here.
            at_us = np.array(at_us, dtype=np.float64)
            pp = relocate(pages, at_us, float(self.bits.core.now), self.moved_at, self.node,
                          int(dst), self.was_demoted, kind == "promote")
            self._move_between(pages, r, int(src), int(dst), at_us)
            if shootdown:
                c.shootdowns += len(pages)
            if kind == "promote":
                c.promotions += len(pages)
                c.pingpong += pp
            else:
                c.demotions += len(pages)
            return
        at_us = self._move_times(pages, at_us)
        if src is not None and np.ndim(dst) == 0:
            self._move_between(pages, r, int(src), int(dst), at_us)
        else:
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
        if shootdown:
            c.shootdowns += len(pages)
        self.node[pages] = dst
        if kind == "promote":
            c.promotions += len(pages)
            c.pingpong += int(np.count_nonzero(self.was_demoted[pages]))
            self.was_demoted[pages] = False
        else:
            c.demotions += len(pages)
            self.was_demoted[pages] = True

    def _move_between(self, pages: np.ndarray, r: np.ndarray, src: int, dst: int,
                      at_us: np.ndarray | None) -> None:
        """move's sums when every page goes from node src to node dst (the same
        floating-point operations as the general case, on one pair of nodes)."""
        k = len(pages)
        up = bool(self.node_is_fast[dst] and not self.node_is_fast[src])
        down = bool(self.node_is_fast[src] and not self.node_is_fast[dst])
        if up or down:
            total = float(r.sum())
            self.fast_rate += total if up else -total
            if at_us is not None:
                lag = float(r @ (at_us - self.bits.core.now))
                self.fast_lag += lag if up else -lag
        if src != dst:
            seq = float(np.cumsum(r)[-1])  # bincount's sum: in order, not pairwise
            self.node_rate[dst] += seq
            self.node_rate[src] -= seq
            self.free[src] += k
            self.free[dst] -= k

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

    # ------------------------------------------------------------ kswapd
    def pgdat_balanced(self, d: int) -> bool:
        """kswapd's goal on node d: free pages above its watermark (PROMO in
        NUMA balancing's memory-tiering mode, else HIGH)."""
        return bool(self.free[d] > self.kswapd_wmark[d])

    def wake_kswapd(self, node: int) -> None:
        """wakeup_kswapd (a failed promotion: migrate_balanced_pgdat false); the
        engine calls kswapd() after the current event."""
        if self.kswapd_enabled:
            self.kswapd_pending.add(int(node))

    def kswapd(self) -> None:
        """Start the kswapd thread of each woken node, unless it is running
        already (the wake-up is lost, as with no waiter on kswapd_wait) or the
        node is balanced."""
        nodes, self.kswapd_pending = sorted(self.kswapd_pending), set()
        for d in nodes:
            if self.kswapd_running[d] or self.pgdat_balanced(d):
                continue
            self.kswapd_running[d] = True
            self.kswapd_scanned[d] = 0
            self.kswapd_round[d] = 0
            self.counters.kswapd_runs += 1
            self.core.schedule(self.core.now, PRIO_KSWAPD, lambda d=d: self._kswapd_run(d),
                               thread=True)

    def _kswapd_run(self, d: int) -> None:
        """One chunk of node d's kswapd (balance_pgdat), up to the next event:
        rounds of kswapd_shrink_node, each demoting up to nr_to_reclaim =
        max(high watermark, SWAP_CLUSTER_MAX) victims found by the CLOCK of
        _rule_kswapd_victims, to the slow node with the most free pages; the
        node's balance is checked before each round. Each page scanned costs
        kswapd_scan_ns, each victim also its migration; victims move at their
        completion times. The thread reschedules itself at the end of its work
        (and checks the balance there before it sleeps); it gives up after
        two full turns without enough victims, or when no slow node has a
        free page."""
        core = self.core
        t = core.now
        budget = (core.thread_bound() - t) * 1000.0  # ns this chunk may take
        clock = 0.0
        while True:
            if self.kswapd_round[d] == 0:
                if self.pgdat_balanced(d):
                    break
                self.kswapd_round[d] = max(int(self.wmark_high[d]), SWAP_CLUSTER_MAX)
            dest = int(self.slow_nodes[np.argmax(self.free[self.slow_nodes])])
            k = min(int(self.kswapd_round[d]), int(self.free[dest]))
            if k <= 0:
                self.kswapd_scanned[d] = 2 * self.n_pages  # nowhere to demote to: give up
                break
            victims, done, clock = self._rule_kswapd_victims(d, k, clock, budget)
            self.move(victims, dest, "demote", at_us=t + done / 1000.0, src=d)
            self.kswapd_round[d] -= len(victims)
            if len(victims) < k:
                break  # the next event comes first, or two full turns
        self.cpu_ns.kswapd += clock
        if clock > 0 and self.kswapd_scanned[d] < 2 * self.n_pages:
            core.schedule(math.ceil(t + clock / 1000.0), PRIO_KSWAPD, lambda: self._kswapd_run(d),
                          thread=True)
        else:
            self.kswapd_running[d] = False

    def _rule_kswapd_victims(self, d: int, need: int, clock: float,
                             budget: float) -> tuple[np.ndarray, np.ndarray, float]:
        """CLOCK over page indices from node d's hand (reclaim's scan of the
        LRU), in batches of SWAP_CLUSTER_MAX pages of node d (shrink_folio_list
        on the isolated batch, then demote_folio_list). Each page scanned
        costs kswapd_scan_ns and gets folio_referenced: its A bit tested and
        cleared (an A bit clears PG_idle), PG_young tested and cleared; either
        is a reference. A referenced page is passed over and gets
        PG_referenced (folio_check_references: another trip around the list);
        any other page loses PG_referenced and is a victim, its migration
        costing kswapd_demote_ns more; met again in this call (second turn), a
        passed-over page is a victim and a victim is skipped. A batch ends
        early at the `need`-th victim; its victims move when it completes.
        `clock` is the chunk's time so far (ns); a batch runs only if it ends
        by `budget` (the next event) or the chunk has spent nothing yet. Stops
        after `need` victims, at the budget, or after two full turns in this
        run (kswapd_scanned); the hand stays after the last batch. Returns the
        victims, each one's completion time and the clock.

        The walk is kernels.kswapd_clock; here, the A bits it reads (peeked
        over a window of the first turn, widened when the walk needs more)
        and their clearing, all at once after the walk (nothing reads them
        in between, and each page is tested once a turn)."""
        n = self.n_pages
        hand = int(self.kswapd_hand[d])
        limit = 2 * n - int(self.kswapd_scanned[d])  # CLOCK steps left in this run
        c_scan, c_victim = self.kswapd_scan_ns, self.kswapd_scan_ns + self.kswapd_demote_ns
        victims = np.empty(max(need, 0) + 1, dtype=np.int64)  # + 1: see kswapd_clock
        done = np.empty(max(need, 0) + 1)
        # Lookahead: the offsets the victims the budget allows took last time.
        fit = need if budget == np.inf or c_victim <= 0 else min(need, int(budget / c_victim) + 1)
        width = max(int(fit * self._kswapd_stride[d] * 1.25), 1024)
        clears = []
        u, last, nv, wu0 = 0, -1, 0, 0
        na, t_work = self.bits.next_access, float(self.bits.work_now())
        segs = self.bits.segments
        # One segment of Poisson pages: the walk clears and redraws A bits itself.
        one = segs[0].access if na is not None and len(segs) == 1 else None
        rate, rng = (one.rate, one.rng) if one is not None else (self._no_times, self._rng0)
        while True:
            if na is not None:  # the walk reads the A bits itself
                if self._clear_buf is None:  # pages whose A bit to clear: at most one turn's
                    self._clear_buf = np.empty(n + 1, dtype=np.int64)
                wu1, a_win, clear = limit, self._no_bits, self._clear_buf
            else:
                wu1 = min(wu0 + width, n, limit)
                a_win = self._peek_offsets(hand, wu0, wu1)
                clear = np.empty(max(wu1 - wu0, 0) + 1, dtype=np.int64)
            fin, u, last, clock, nv, nc, u_stop = kswapd_clock(
                self.node, self.pgflags, self._no_times if na is None else na, rate, rng, t_work,
                a_win, wu0, wu1, hand, d, need, limit, u, last, float(clock), float(budget),
                c_scan, c_victim, victims, done, nv, clear)
            clears.append(clear[:nc])
            if fin:
                break
            wu0, width = u, 2 * width
        cleared = clears[0] if len(clears) == 1 else np.concatenate(clears)
        if len(cleared):
            self.bits.test_and_clear_pages(cleared)
        if nv:
            self._kswapd_stride[d] = max(u_stop / nv, 1.0)
        self.kswapd_hand[d] = (hand + u_stop) % n
        self.kswapd_scanned[d] += u_stop
        return victims[:nv], done[:nv], clock

    def _peek_offsets(self, hand: int, u0: int, u1: int) -> np.ndarray:
        """The A bits (no side effect) of pages (hand + u) % n for u in [u0, u1) < n."""
        n = self.n_pages
        lo, hi = hand + u0, hand + u1
        if hi <= n:
            return self.bits.peek_range(lo, hi)
        if lo >= n:
            return self.bits.peek_range(lo - n, hi - n)
        return np.concatenate([self.bits.peek_range(lo, n), self.bits.peek_range(0, hi - n)])
