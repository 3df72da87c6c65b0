"""kswapd: demotion from a top-tier node when its free pages fall under the
watermark, a thread that takes time (a mixin of Memory: ``Kswapd`` declares
the part of Memory's state it reads and the methods it calls).

Page-level rule with a per-page reference twin (reference/_memory.py):
``_rule_kswapd_victims``; its walk is kernels.kswapd_clock, and a whole chunk
(rounds, walks, moves) is kernels.kswapd_chunk when the walk redraws the A
bits itself.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from harness.model.bits import PageBits
from harness.model.core import PRIO_POLICY, EventCore
from harness.model.counters import Counters, CpuTime
from harness.model.draws import NO_STREAM
from harness.model.kernels import kswapd_chunk, kswapd_clock
from harness.model.kernels.records import NO_BOOLS, NO_FLOATS, SWAP_CLUSTER_MAX

if TYPE_CHECKING:
    from harness.config import RunConfig

# kswapd's thread runs after the policy threads of the same time, before the sampler.
PRIO_KSWAPD = PRIO_POLICY + 3
# SWAP_CLUSTER_MAX, reclaim's batch (pages): kswapd_shrink_node reclaims
# max(high watermark, it) a round; shrink_folio_list takes batches of it.


class Kswapd:
    """kswapd per node (balance_pgdat), on Memory's state.

    What it reads of Memory, declared here (Memory sets them), and the
    methods of Memory it calls (below); what it keeps is kswapd_* (set in
    _init_kswapd). Which watermark it balances to comes from the run's
    policy (memory_tiering), not from the policy's name."""

    # Memory's state that kswapd reads (and changes through move / the kernels)
    bits: PageBits
    core: EventCore
    counters: Counters
    cpu_ns: CpuTime
    n_pages: int
    n_nodes: int
    capacity: np.ndarray    # pages per node
    free: np.ndarray        # free pages per node
    wmark_high: np.ndarray  # per node
    wmark_promo: np.ndarray
    slow_nodes: np.ndarray  # node indices of the slow tier
    node_rate: np.ndarray   # access rate by node
    fast_rate: float
    fast_lag: float

    _pages: tuple           # Memory's records for the kernels (page_state, node_state)
    _nodes: tuple

    def page_state(self) -> tuple: ...
    def move(self, pages: np.ndarray, dst: np.ndarray | int, kind: str, shootdown: bool = True,
             at_us: np.ndarray | None = None, src: int | None = None) -> None: ...

    # A chunk's rounds in one compiled call where it can (_kswapd_compiled);
    # the per-page reference, which re-states _rule_kswapd_victims, cannot.
    compiled_kswapd = True

    def _init_kswapd(self, cfg: RunConfig, memory_tiering: bool) -> None:
        plat = cfg.platform
        self.kswapd_enabled = plat.kswapd
        self.kswapd_pending: set[int] = set()
        self.kswapd_hand = np.zeros(self.n_nodes, dtype=np.int64)
        # pgdat_balanced: the PROMO watermark only in NUMA balancing's
        # memory-tiering mode (numa_balancing=2), else HIGH.
        self.memory_tiering = memory_tiering
        self.kswapd_wmark = self.wmark_promo if self.memory_tiering else self.wmark_high
        self.kswapd_running = np.zeros(self.n_nodes, dtype=bool)
        self.kswapd_scanned = np.zeros(self.n_nodes, dtype=np.int64)  # this run's CLOCK steps
        self.kswapd_round = np.zeros(self.n_nodes, dtype=np.int64)  # victims left this round
        # CLOCK offsets per victim in the last windowed walk (its lookahead)
        self._kswapd_stride = np.full(self.n_nodes, 8.0)
        self._clear_buf: np.ndarray | None = None
        costs = cfg.costs
        self.kswapd_scan_ns = costs.kswapd_scan_ns
        self.kswapd_demote_ns = costs.page_move_ns
        # Kept from chunk to chunk: the Kswapd record (its arrays change in
        # place), the victims' buffers, each node's chunk callback.
        c_victim = self._kswapd_c_victim = float(self.kswapd_scan_ns + self.kswapd_demote_ns)
        self._kswapd_rec = (self.kswapd_hand, self.kswapd_scanned, self.kswapd_round,
                            self.kswapd_wmark, self.slow_nodes, float(self.kswapd_scan_ns),
                            c_victim)
        self._kswapd_victims = np.empty(0, dtype=np.int64), np.empty(0)  # victims, at_us
        self._kswapd_fns = [partial(self._kswapd_run, d) for d in range(self.n_nodes)]
        # The chunk in one compiled call (_kswapd_compiled) when the walk can
        # redraw the A bits itself: one segment of Poisson pages (the access
        # model of a run's pages does not change), and victims that cost.
        segs = self.bits.segments
        self._kswapd_access = (segs[0].access if self.compiled_kswapd and c_victim > 0
                               and self.bits.next_access is not None and len(segs) == 1
                               else None)

    def pgdat_balanced(self, d: int) -> bool:
        """kswapd's goal on node d: free pages above its watermark (PROMO in
        NUMA balancing's memory-tiering mode, else HIGH)."""
        return bool(self.free[d] > self.kswapd_wmark[d])

    def wake_kswapd(self, node: int) -> None:
        """wakeup_kswapd (a failed promotion: migrate_balanced_pgdat false):
        kswapd() runs at the end of the current event (EventCore.defer). A
        running thread's wake-up is lost there (it stays running to the end
        of the event): nothing to defer."""
        if self.kswapd_enabled and not self.kswapd_running[node]:
            if not self.kswapd_pending:
                self.core.defer(self.kswapd)
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
            self.core.schedule(self.core.now, PRIO_KSWAPD, self._kswapd_fns[d], thread=True)

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
        if self._kswapd_access is not None and budget < math.inf:
            clock, more = self._kswapd_compiled(d, t, budget)
        else:
            clock = self._kswapd_rounds(d, t, budget)
            more = int(self.kswapd_scanned[d]) < 2 * self.n_pages
        self.cpu_ns.kswapd += clock
        if clock > 0 and more:
            core.schedule(math.ceil(t + clock / 1000.0), PRIO_KSWAPD, self._kswapd_fns[d],
                          thread=True)
        else:
            self.kswapd_running[d] = False

    def _kswapd_rounds(self, d: int, t: int, budget: float) -> float:
        """_kswapd_run's rounds, a walk and a move each; returns the chunk's clock (ns)."""
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
        return clock

    def _kswapd_compiled(self, d: int, t: int, budget: float) -> tuple[float, bool]:
        """_kswapd_rounds in one compiled call (kernels.kswapd_chunk), when the
        walk redraws the A bits itself (one segment of Poisson pages) and the
        budget bounds the victims. Returns the chunk's clock (ns) and whether
        the run may go on (fewer than two full turns)."""
        acc = self._kswapd_access
        # Victims: what the budget allows (+ the first batch's, which may pass
        # it, and a batch's writes past the last), at most the node's pages.
        victims, at_us = self._kswapd_victims  # kept from chunk to chunk
        c_victim, extra = self._kswapd_c_victim, 2 * SWAP_CLUSTER_MAX + 2
        if budget > (len(victims) - extra) * c_victim:  # the budget may need more room
            most = min(int(budget / c_victim), int(self.capacity[d] - self.free[d]))
            cap = max(most, 0) + extra
            if len(victims) < cap:  # grown when short
                victims, at_us = np.empty(2 * cap, dtype=np.int64), np.empty(2 * cap)
                self._kswapd_victims = victims, at_us
        # Records as tuples of their fields (kernels/records.py): ABits, Kswapd, Chunk.
        clock, nv, self.fast_rate, self.fast_lag, n_set, more = kswapd_chunk(
            self._pages, self._nodes,
            (self.bits.next_access, acc.rate, acc.stream.state, float(self.bits.work_now()),
             NO_BOOLS, 0, 0),
            self._kswapd_rec, d, t, budget,
            (victims, at_us, self.node_rate, self.fast_rate, self.fast_lag))
        c = self.counters
        c.demotions += nv
        c.shootdowns += nv  # each demotion's TLB shootdown (Memory._count_moves)
        c.kswapd_accessed += n_set
        return clock, more

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
        u, last, nv, wu0, n_set = 0, -1, 0, 0, 0
        na, t_work = self.bits.next_access, float(self.bits.work_now())
        segs = self.bits.segments
        # One segment of Poisson pages: the walk clears and redraws A bits itself.
        one = segs[0].access if na is not None and len(segs) == 1 else None
        rate, stream = (one.rate, one.stream.state) if one is not None else (NO_FLOATS, NO_STREAM)
        pg = self.page_state()
        # Records as tuples of their fields (kernels/records.py): Clock, ABits, Victims.
        walk = (d, hand, need, limit, float(budget), float(c_scan), float(c_victim))
        while True:
            if na is not None:  # the walk reads the A bits itself
                if self._clear_buf is None:  # pages whose A bit to clear: at most one turn's
                    self._clear_buf = np.empty(n + 1, dtype=np.int64)
                wu1, a_win, clear = limit, NO_BOOLS, self._clear_buf
            else:
                wu1 = min(wu0 + width, n, limit)
                a_win = self._peek_offsets(hand, wu0, wu1)
                clear = np.empty(max(wu1 - wu0, 0) + 1, dtype=np.int64)
            fin, u, last, clock, nv, nc, u_stop = kswapd_clock(
                pg, (NO_FLOATS if na is None else na, rate, stream, t_work, a_win, wu0, wu1),
                walk, u, last, float(clock), nv, (victims, done, clear))
            n_set += nc
            if one is None:  # else the walk redrew them
                clears.append(clear[:nc])
            if fin:
                break
            wu0, width = u, 2 * width
        self.counters.kswapd_accessed += n_set
        if clears and n_set:
            self.bits.test_and_clear_pages(clears[0] if len(clears) == 1
                                           else np.concatenate(clears))
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
