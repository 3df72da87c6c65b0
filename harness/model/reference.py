"""Per-page reference implementation of the model's page-level rules (tests only).

The vectorized model keeps every per-page decision in a ``_rule_*`` method (and
in a few page helpers of ``Memory`` and of the access models). This module
subclasses each of them and re-states the same rule as a plain Python loop
over pages, in page (or list) order, one decision at a time. Everything else
(event scheduling, per-mm adaptation, failure feedback, costs, metrics) is
inherited, not duplicated.

``simulate(cfg, reference=True)`` runs this implementation; the tests compare
it with the vectorized one. Random draws are made one per page in the same
order as the vectorized code, so both consume the same random stream and a
given seed gives identical results, in rate form too.

Slow by design: use it on a few hundred pages.
"""

from __future__ import annotations

import math

import numpy as np

from harness.config import RunConfig
from harness.errors import ConfigError
from harness.model.access import INF, CountsAccess, RateAccess
from harness.model.engine import Sim
from harness.model.memory import Memory
from harness.model.policies import KmmscandPolicy, Policy
from harness.model.policies._kmmscand import Migrator, Scanner
from harness.model.policies._kmmscand.migrator import INELIGIBLE, NOT_HOT, OK, SAME_NODE, WATERMARK
from harness.model.policies._none import NonePolicy
from harness.model.policies._numab2 import Numab2Policy
from harness.model.policies._oracle import OraclePolicy
from harness.model.workloads import MMSpec

# ---------------------------------------------------------------- access models


class ReferenceRateAccess(RateAccess):
    """Poisson pages: the time of the first access after the last A-bit clear."""

    def _draw_one(self, t: float, i: int) -> float:
        """One exponential draw: t + Exp(1) / rate (never, for a zero rate)."""
        e = self.rng.standard_exponential()
        rate = float(self.rate[i])
        if rate <= 0:
            return INF
        return t + e * (1e6 / rate)

    def set_rates(self, t: int, rates: np.ndarray) -> None:
        self.rate = np.array(rates, dtype=np.float64)
        with np.errstate(divide="ignore"):
            self.mean_gap_us = 1e6 / self.rate
        for i in range(self.n):
            # Not accessed since the last clear: redraw under the new rate.
            if self.next_access[i] > t:
                self.next_access[i] = self._draw_one(t, i)

    def test_and_clear(self, lo: int, hi: int, t: int) -> np.ndarray:
        accessed = np.zeros(hi - lo, dtype=bool)
        for i in range(lo, hi):
            if self.next_access[i] <= t:
                accessed[i - lo] = True
                self.next_access[i] = self._draw_one(t, i)  # next access after the clear
        return accessed

    def test_and_clear_pages(self, idx: np.ndarray, t: int) -> np.ndarray:
        accessed = np.zeros(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            if self.next_access[i] <= t:
                accessed[j] = True
                self.next_access[i] = self._draw_one(t, int(i))
        return accessed

    def peek(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self.next_access[i] <= t for i in idx], dtype=bool)

    def next_access_after(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self._draw_one(t, int(i)) for i in idx], dtype=np.float64)


class ReferenceCountsAccess(CountsAccess):
    """Exact counts: access j (0-based) of c in a window [t_k, t_k + W) happens
    at t_k + (j + 1/2) W / c."""

    def _done_in_window(self, i: int, t: int) -> int:
        """Accesses of page i in the current window at or before t."""
        c = int(self.count[i])
        # (j + 1/2) W / c <= t - t_k  <=>  j < (2 (t - t_k) c + W) / (2 W)
        done = (2 * (int(t) - self.win_start) * c + self.window_us) // (2 * self.window_us)
        return min(done, c)

    def _accessed_by(self, i: int, t: int) -> int:
        return int(self.cum_base[i]) + self._done_in_window(i, t)

    def set_window(self, t: int, k: int) -> None:
        if self.win_index >= 0 or self.count.any():
            base = np.zeros(self.n, dtype=np.int64)
            for i in range(self.n):
                base[i] = self._accessed_by(i, t)
            self.cum_base = base
        self.win_start = int(t)
        self.win_index = k
        count = np.zeros(self.n, dtype=np.int64)
        if 0 <= k < len(self.windows):
            for i in range(self.n):
                count[i] = int(self.windows[k, i])
        self.count = count

    def test_and_clear(self, lo: int, hi: int, t: int) -> np.ndarray:
        accessed = np.zeros(hi - lo, dtype=bool)
        for i in range(lo, hi):
            now = self._accessed_by(i, t)
            accessed[i - lo] = now > self.at_clear[i]
            self.at_clear[i] = now
        return accessed

    def test_and_clear_pages(self, idx: np.ndarray, t: int) -> np.ndarray:
        accessed = np.zeros(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            now = self._accessed_by(int(i), t)
            accessed[j] = now > self.at_clear[i]
            self.at_clear[i] = now
        return accessed

    def peek(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self._accessed_by(int(i), t) > self.at_clear[i] for i in idx],
                        dtype=bool)

    def _next_one(self, i: int, t: int) -> float:
        W = self.window_us
        c = int(self.count[i])
        j = self._done_in_window(i, t)
        if j < c:
            # Access j of this window, rounded up to a whole microsecond.
            return float(self.win_start + -(-(2 * j + 1) * W // (2 * c)))
        k = self.win_index + 1
        while 0 < k < len(self.windows):
            ck = int(self.windows[k, i])
            if ck > 0:  # first access of a later window
                start = self.win_start + (k - self.win_index) * W
                return float(start + -(-W // (2 * ck)))
            k += 1
        return INF

    def next_access_after(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self._next_one(int(i), int(t)) for i in idx], dtype=np.float64)


def _as_reference(access):
    cls = {RateAccess: ReferenceRateAccess, CountsAccess: ReferenceCountsAccess}[type(access)]
    ref = cls.__new__(cls)
    ref.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                         for k, v in access.__dict__.items()})
    return ref


# ------------------------------------------------------------------------ memory


class ReferenceMemory(Memory):
    def count_nodes(self, nodes: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_nodes, dtype=np.int64)
        for d in nodes:
            if d >= 0:
                out[d] += 1
        return out

    def move(self, pages: np.ndarray, dst, kind: str, *args, **kwargs) -> None:
        """One page at a time, in list order (the engine's bookkeeping per page)."""
        dsts = np.broadcast_to(np.asarray(dst, dtype=np.int64), (len(pages),))
        for p, d in zip(pages, dsts, strict=True):
            super().move(np.array([p], dtype=np.int64), int(d), kind, *args, **kwargs)

    def _place(self, s: MMSpec, node: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Initial placement, page by page in page order. A fast node takes pages
        only while its free pages are above its high watermark, except under
        `fast` placement and as a last resort."""
        free = free.copy()
        fast, slow = [int(d) for d in self.fast_nodes], [int(d) for d in self.slow_nodes]
        high = {d: int(self.wmark_high[d]) for d in fast}

        def put(p: int, targets: list[tuple[int, int]]) -> bool:
            """Place page p on the first target node with free pages above its floor."""
            for d, floor in targets:
                if free[d] > floor:
                    node[p] = d
                    free[d] -= 1
                    return True
            return False

        fast_wmark = [(d, high[d]) for d in fast]
        fast_any = [(d, 0) for d in fast]
        slow_any = [(d, 0) for d in slow]
        anywhere = [(d, 0) for d in range(self.n_nodes)]
        pages = range(s.lo, s.hi)
        if s.placement == "split":
            share = s.split_fast_share
            spill_fast, spill_slow = [], []
            for j, p in enumerate(pages):
                # Page j goes fast when floor((j + 1) share) steps up: an even spread.
                if math.floor((j + 1) * share) > math.floor(j * share):
                    if not put(p, fast_wmark):
                        spill_fast.append(p)
                elif not put(p, slow_any):
                    spill_slow.append(p)
            # Spilled pages (the fast group's first), slow nodes then fast ones.
            rest = spill_fast + spill_slow
            order = slow_any + fast_any
        else:
            rest = list(pages)
            if s.placement == "slow":
                order = slow_any + fast_wmark
            elif s.placement == "fast":
                order = fast_any + slow_any
            else:  # first_touch
                order = fast_wmark + slow_any
        for p in rest:
            if not put(p, order) and not put(p, anywhere):
                raise ConfigError(f"{self.name}: workloads: process {s.index} does not fit "
                                  "in the free memory when it starts")
        return free

    def _rule_kswapd_victims(self, d: int, need: int) -> np.ndarray:
        """CLOCK from node d's hand over page indices: a page of node d has its
        A bit tested and cleared; if it was accessed or carries the referenced
        flag, it loses the flag and is passed over (second chance); otherwise
        it becomes a victim, once. Stop at `need` victims or after two full
        turns; the hand stays after the last page examined."""
        n = self.n_pages
        hand = int(self.kswapd_hand[d])
        victims: list[int] = []
        chosen: set[int] = set()
        examined = 0
        while len(victims) < need and examined < 2 * n:
            p = hand
            if self.node[p] == d and p not in chosen:
                young = bool(self.bits.test_and_clear_pages(np.array([p]))[0])
                if young or self.referenced[p]:
                    self.referenced[p] = False
                else:
                    victims.append(p)
                    chosen.add(p)
            examined += 1
            hand = (hand + 1) % n
        self.kswapd_hand[d] = hand
        return np.array(victims, dtype=np.int64)


class ReferenceSim(Sim):
    memory_cls = ReferenceMemory

    def __init__(self, cfg: RunConfig, policy: Policy, layout=None):
        super().__init__(cfg, policy, layout)
        for seg in self.layout.segments:
            seg.access = _as_reference(seg.access)


# ---------------------------------------------------------------------- policies


class ReferenceScanner(Scanner):
    def _rule_scan_pages(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        sim, c = self.sim, self.cfg
        mem = sim.mem
        acc = sim.bits.test_and_clear(lo, hi)
        scanned = np.zeros(mem.n_nodes, dtype=np.int64)
        accessed = np.zeros(mem.n_nodes, dtype=np.int64)
        n_slow = 0
        queue: list[int] = []
        for p in range(lo, hi):
            d = int(mem.node[p])
            scanned[d] += 1
            young = bool(acc[p - lo])
            # x86 clears the A bit without a TLB flush: some accesses are missed.
            if young and c.a_bit_miss > 0 and self.miss_rng.random() < c.a_bit_miss:
                young = False
            candidate = False
            if young:
                accessed[d] += 1
                mem.referenced[p] = True
                if not mem.node_is_fast[d]:
                    n_slow += 1
                    candidate = True
            if self.prev_accessed is not None:
                # V3: queue only if the previous scan saw it accessed too.
                candidate = candidate and bool(self.prev_accessed[p])
                self.prev_accessed[p] = young
            if candidate and self.queued is not None:
                # De-duplication knob: a page already on the list is not queued again.
                if self.queued[p]:
                    candidate = False
                else:
                    self.queued[p] = True
            if candidate:
                queue.append(p)
        self.queue.push(np.array(queue, dtype=np.int64))
        return scanned, accessed, n_slow, len(queue)


class ReferenceMigrator(Migrator):
    def _rule_migrate(self, pages: np.ndarray, dst: np.ndarray, budget: int | None) -> np.ndarray:
        """Entry by entry in list order; the first failing check gives the reason.
        With a budget, the pass stops once `budget` pages have been promoted."""
        sim, mem = self.sim, self.sim.mem
        reasons: list[int] = []
        promoted = 0
        for p, d in zip(pages, dst, strict=True):
            if budget is not None and promoted >= budget:
                break
            p, d = int(p), int(d)
            src = int(mem.node[p])
            if self.cfg.hot_check and not sim.bits.peek(np.array([p]))[0]:
                r = NOT_HOT
            elif src == d:
                r = SAME_NODE
            elif mem.node_is_fast[src]:
                r = INELIGIBLE
            elif mem.free[d] <= mem.wmark_high[d]:
                r = WATERMARK
            else:
                mem.move(np.array([p]), d, "promote")
                promoted += 1
                r = OK
            reasons.append(r)
        return np.array(reasons, dtype=np.int8)


class ReferenceKmmscandPolicy(KmmscandPolicy):
    scanner_cls = ReferenceScanner
    migrator_cls = ReferenceMigrator


class ReferenceNumab2Policy(Numab2Policy):
    def _rule_mark(self, lo: int, hi: int) -> int:
        sim, mem = self.sim, self.sim.mem
        filed = 0
        for p in range(lo, hi):
            if mem.node_is_fast[mem.node[p]]:
                continue  # only slow-tier pages are marked
            ft = float(sim.bits.next_access_after(np.array([p]), sim.t)[0])
            self.mark_time[p] = sim.t
            self.fault_time[p] = ft
            if ft <= sim.end_us:
                tick = math.ceil(ft / self.tick_us)
                self.buckets.setdefault(tick, []).append(
                    (np.array([p], dtype=np.int64), np.array([ft])))
                filed += 1
        return filed

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        sim, costs, d = self.sim, self.sim.costs, self.dst
        mem, ctr = sim.mem, sim.counters
        n = len(pages)
        ctr.hint_faults += n
        sim.cpu_ns.app_fault += n * costs.hint_fault_us * 1000
        window = t // 1_000_000
        if window != self.window:
            self.window, self.window_cand = window, 0
        limit = int(self.rate_limit_pages)
        moved = 0
        for p, f in zip(pages, ft, strict=True):
            p = int(p)
            if mem.node_is_fast[mem.node[p]]:
                continue
            if mem.free[d] > mem.wmark_promo[d]:
                # Plenty of free memory: promote at once.
                mem.move(np.array([p]), d, "promote")
                moved += 1
                continue
            if f - self.mark_time[p] >= self.threshold_us:
                ctr.failed_not_candidate += 1
                continue
            allowed = self.window_cand < limit
            self.window_cand += 1
            self.nr_cand += 1
            if not allowed:
                ctr.failed_rate_limited += 1
            elif mem.free[d] > mem.wmark_high[d]:
                mem.move(np.array([p]), d, "promote")
                moved += 1
            else:
                ctr.failed_dest_watermark += 1
                mem.wake_kswapd(d)
        sim.cpu_ns.app_fault += moved * (costs.migrate_page_us + costs.tlb_shootdown_us) * 1000


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


REFERENCE_POLICIES: dict[str, type[Policy]] = {
    "none": ReferenceNonePolicy,
    "kmmscand": ReferenceKmmscandPolicy,
    "numab2": ReferenceNumab2Policy,
    "oracle": ReferenceOraclePolicy,
}


def make_reference_sim(cfg: RunConfig) -> Sim:
    return ReferenceSim(cfg, REFERENCE_POLICIES[cfg.policy.kind](cfg.policy))
