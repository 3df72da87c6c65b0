"""The simulation engine: memory nodes, pages, an event heap, kswapd, metrics.

A tiny discrete-event engine with no I/O. Threads (the scanner, the migrator,
NUMA hint-fault processing, ...) are callbacks that reschedule themselves.
Per-page work is vectorized with numpy over page ranges and index arrays;
Python loops run per event only.

Page-level rules that have a per-page reference twin (``reference.py``) live
in methods whose names start with ``_rule_``.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.config import RunConfig
from harness.errors import ConfigError
from harness.model import runtime
from harness.model.workloads import US, Layout, MMSpec, build_layout

# Event priorities at equal times: rates change first, then processes start
# and exit, then policy threads, then the sampler sees the result.
PRIO_PHASE, PRIO_MM_START, PRIO_MM_EXIT, PRIO_RUNTIME, PRIO_POLICY, PRIO_SAMPLE = 0, 1, 2, 3, 5, 9

FAIL_REASONS = ("not_hot", "same_node", "ineligible_src", "dest_watermark",
                "rate_limited", "not_candidate")


@dataclass
class MMState:
    spec: MMSpec
    alive: bool = False
    started: bool = False
    slot: dict = field(default_factory=dict)  # policy-owned per-mm state


class Sim:
    """State of one run. Policies read and change it through its methods."""

    def __init__(self, cfg: RunConfig, policy, layout: Layout | None = None):
        self.closed = cfg.runtime.enabled
        self.tau_total = 0.0
        if self.closed:
            cfg, self.tau_total = runtime.resolve(cfg)
        self.cfg = cfg
        self.policy = policy
        self.costs = cfg.costs
        self.layout = layout or build_layout(cfg)
        lay = self.layout
        self.page_bytes = lay.page_bytes
        self.n_pages = lay.n_pages
        self.end_us = int(round(cfg.duration_s * US))
        self.t = 0

        plat = cfg.platform
        nodes = sorted(plat.nodes, key=lambda n: n.id)
        self.node_ids = [n.id for n in nodes]
        self.n_nodes = len(nodes)
        cap = np.array([int(n.capacity_gb * (1 << 30)) // self.page_bytes for n in nodes],
                       dtype=np.int64)
        fast = np.array([n.tier == "fast" for n in nodes])
        if plat.fast_share_of_footprint is not None:
            fast_total = int(math.ceil(plat.fast_share_of_footprint * lay.n_pages))
            nf = int(fast.sum())
            cap[fast] = [fast_total // nf + (1 if i < fast_total % nf else 0) for i in range(nf)]
            cap[~fast] = np.maximum(cap[~fast], lay.n_pages)
        if lay.n_pages > cap.sum():
            raise ConfigError(
                f"{cfg.name}: workloads: footprint of {lay.n_pages} pages exceeds the platform's "
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

        n = lay.n_pages
        self.node = np.full(n, -1, dtype=np.int8)
        self.rate = np.zeros(n)
        self.referenced = np.zeros(n, dtype=bool)
        self.was_demoted = np.zeros(n, dtype=bool)
        self.mm_lo = np.array([m.lo for m in lay.mms], dtype=np.int64)
        self.mms = [MMState(m) for m in lay.mms]
        self.seg_lo = np.array([s.lo for s in lay.segments], dtype=np.int64)

        # The `none` baseline on the same workload: its own placement.
        self.base_node = np.full(n, -1, dtype=np.int8)
        self.base_free = cap.copy()

        # Hit accounting: expected accesses, integrated exactly between events.
        self.fast_rate = 0.0
        self.total_rate = 0.0
        self.base_fast_rate = 0.0
        self.acc_fast = 0.0
        self.acc_total = 0.0
        self.acc_base_fast = 0.0
        self.t_acc = 0
        self.node_rate = np.zeros(self.n_nodes)

        # Closed loop: real time t maps to nominal work time tau (see runtime.py).
        self.speed = 1.0
        self.tau0 = 0.0
        self.tau_t0 = 0
        self.stopped = False
        self.completion_us = float("nan")
        self.rt = dict(stall_us=0.0, penalty_us=0.0, debt_us=0.0, a=1.0, b=1.0,
                       app_ns=0.0, shootdowns=0)
        if self.closed:
            self.node_cost_ns = runtime.node_costs_ns(cfg)
            self.node_bw = np.array([n.bandwidth_gbps for n in nodes]) * 1e9  # bytes/s
            self.p_fast_us = runtime.fast_period_us(cfg)

        self.counters: dict[str, int] = dict(
            promotions=0, demotions=0, pingpong=0, ptes_scanned=0, mm_scans=0, vma_scans=0,
            migadded=0, slowtier=0, toptier=0, idlepage=0, hint_faults=0, migrate_dropped=0,
            kswapd_runs=0, shootdowns=0, **{f"failed_{r}": 0 for r in FAIL_REASONS})
        # app_mark: PTE marking (NUMAB2 task work); app_fault: hint faults and
        # synchronous migration in the faulting task.
        self.cpu_ns: dict[str, float] = dict(scanner=0.0, migrator=0.0, app_mark=0.0,
                                             app_fault=0.0)
        self.series: dict[str, list] = {k: [] for k in (
            "t_s", "hit_rate", "hit_rate_cum", "queue_len", "promotions", "demotions",
            "failed", "scan_period_ms", "scan_size_mb")}
        self._last_sample = (0.0, 0.0, 0, 0, 0)
        self._heap: list = []
        self._seq = 0
        # Test hook: called with the Sim after every event (and its kswapd run).
        self.after_event: Callable[[Sim], None] | None = None

    # ------------------------------------------------------------ events
    def schedule(self, t: int, prio: int, fn: Callable[[], None]) -> None:
        if t <= self.end_us:
            self._seq += 1
            heapq.heappush(self._heap, (int(t), prio, self._seq, fn))

    def run(self) -> dict:
        wall0 = time.perf_counter()
        for seg in self.layout.segments:
            for k, t in enumerate(seg.phase_times):
                self.schedule(t, PRIO_PHASE, lambda s=seg, k=k, t=t: self._enter_phase(s, k, t))
        for mm in self.mms:
            self.schedule(mm.spec.start_us, PRIO_MM_START, lambda m=mm: self._mm_start(m))
            if mm.spec.exit_us is not None:
                self.schedule(mm.spec.exit_us, PRIO_MM_EXIT, lambda m=mm: self._mm_exit(m))
        step = self.cfg.sample_ms * 1000
        for t in range(step, self.end_us + 1, step):
            self.schedule(t, PRIO_SAMPLE, self._sample)
        if self.closed:
            self.schedule(0, PRIO_RUNTIME, self._runtime_step)
        self.policy.start(self)
        while self._heap and not self.stopped:
            t, _, _, fn = heapq.heappop(self._heap)
            self._advance(t)
            self.t = t
            fn()
            if self.kswapd_pending:
                self._kswapd()
            if self.after_event is not None:
                self.after_event(self)
        self._advance(self.end_us)
        self.t = self.end_us
        return self._finish(time.perf_counter() - wall0)

    def _advance(self, t: int) -> None:
        dt = (t - self.t_acc) / US * self.speed
        if dt > 0:
            self.acc_fast += self.fast_rate * dt
            self.acc_total += self.total_rate * dt
            self.acc_base_fast += self.base_fast_rate * dt
        self.t_acc = t

    def work_now(self):
        """The access models' clock: real time, or nominal work time in closed loop."""
        if not self.closed:
            return self.t
        return self.tau0 + self.speed * (self.t - self.tau_t0)

    def _runtime_step(self) -> None:
        """Close the loop: account the elapsed step, then set the next speed."""
        rt, t = self.rt, self.t
        tau_now = self.work_now()
        dt = t - self.tau_t0
        if tau_now >= self.tau_total and self.speed > 0:
            # Finished inside this step: account only the part before completion.
            frac = (self.tau_total - self.tau0) / (tau_now - self.tau0) if tau_now > self.tau0 else 0
            dt *= frac
            self.completion_us = self.tau_t0 + dt
        rt["stall_us"] += dt * (1 - rt["b"])
        rt["penalty_us"] += dt * rt["b"] * (1 - rt["a"])
        if self.completion_us == self.completion_us:  # not NaN: done
            self.end_us = int(math.ceil(self.completion_us))
            self.stopped = True
            return
        step_us = self.cfg.runtime.step_ms * 1000
        cfg_rt = self.cfg.runtime
        if self.total_rate > 0:
            rt["a"] = self.p_fast_us / runtime.mixed_period_us(
                cfg_rt, self.node_rate / self.total_rate, self.node_cost_ns, self.node_bw)
        app_ns = self.cpu_ns["app_mark"] + self.cpu_ns["app_fault"]
        sd = self.counters["shootdowns"]
        rt["debt_us"] += ((app_ns - rt["app_ns"]) * cfg_rt.stall_share / cfg_rt.threads
                          + (sd - rt["shootdowns"]) * self.costs.tlb_shootdown_us * 1000) / 1000
        rt["app_ns"], rt["shootdowns"] = app_ns, sd
        used = min(rt["debt_us"], step_us)
        rt["debt_us"] -= used
        rt["b"] = 1 - used / step_us
        self.tau0, self.tau_t0 = tau_now, t
        self.speed = rt["a"] * rt["b"]
        self.schedule(t + step_us, PRIO_RUNTIME, self._runtime_step)

    def _enter_phase(self, seg, k: int, t: int) -> None:
        rates = seg.enter_phase(k, t)
        lo, hi = seg.lo, seg.hi
        if not any(mm.started for mm in self.mms if mm.spec.segment == seg.index):
            # Nothing allocated yet (the first phase): only the totals change.
            self.total_rate += float(rates.sum() - self.rate[lo:hi].sum())
            self.rate[lo:hi] = rates
            self.policy.on_phase(self, seg)
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
        self.policy.on_phase(self, seg)

    # ------------------------------------------------------- processes
    def _mm_start(self, mm: MMState) -> None:
        s = mm.spec
        self.free = self._place(s, self.node, self.free)
        self.base_free = self._place(s, self.base_node, self.base_free)
        r = self.rate[s.lo:s.hi]
        self.node_rate += np.bincount(self.node[s.lo:s.hi], weights=r, minlength=self.n_nodes)
        self.fast_rate += float(r[self.node_is_fast[self.node[s.lo:s.hi]]].sum())
        self.base_fast_rate += float(r[self.node_is_fast[self.base_node[s.lo:s.hi]]].sum())
        mm.alive = mm.started = True
        self.policy.on_mm_start(self, mm)

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
            raise ConfigError(f"{self.cfg.name}: workloads: process {s.index} does not fit in "
                              "the free memory when it starts")
        return free

    def _mm_exit(self, mm: MMState) -> None:
        s = mm.spec
        mm.alive = False
        self.policy.on_mm_exit(self, mm)
        nodes = self.node[s.lo:s.hi]
        alloc = nodes >= 0
        self.node_rate -= np.bincount(nodes[alloc], weights=self.rate[s.lo:s.hi][alloc],
                                      minlength=self.n_nodes)
        for node, free in ((self.node, self.free), (self.base_node, self.base_free)):
            nodes = node[s.lo:s.hi]
            free += np.bincount(nodes[nodes >= 0], minlength=self.n_nodes)
            node[s.lo:s.hi] = -1
        # Rates are zero after exit (the segment's exit phase came first).

    # ---------------------------------------------------- page helpers
    def count_nodes(self, nodes: np.ndarray) -> np.ndarray:
        """Pages per node of allocated pages (a compare per node beats bincount's
        cast of int8; with two nodes one compare does)."""
        if self.n_nodes == 2:
            c0 = np.count_nonzero(nodes == 0)
            return np.array([c0, len(nodes) - c0], dtype=np.int64)
        return np.array([np.count_nonzero(nodes == d) for d in range(self.n_nodes)],
                        dtype=np.int64)

    def slow_mask(self, nodes: np.ndarray) -> np.ndarray:
        """Which of these (allocated) pages are on a slow-tier node."""
        if len(self.fast_nodes) == 1:
            return nodes != int(self.fast_nodes[0])
        return ~self.node_is_fast[nodes]

    def mm_of(self, pages: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.mm_lo, pages, side="right") - 1

    def _segment_groups(self, pages: np.ndarray):
        if len(self.seg_lo) == 1:
            yield self.layout.segments[0], slice(None)
            return
        seg = np.searchsorted(self.seg_lo, pages, side="right") - 1
        for i in np.unique(seg):
            yield self.layout.segments[i], seg == i

    def test_and_clear(self, lo: int, hi: int) -> np.ndarray:
        """Test and clear the A bits of pages [lo, hi), all in one segment."""
        seg = self.layout.segments[int(np.searchsorted(self.seg_lo, lo, side="right") - 1)]
        return seg.access.test_and_clear(lo - seg.lo, hi - seg.lo, self.work_now())

    def test_and_clear_idx(self, lo: int, hi: int) -> np.ndarray:
        """As test_and_clear, but the offsets (from lo) of the accessed pages."""
        seg = self.layout.segments[int(np.searchsorted(self.seg_lo, lo, side="right") - 1)]
        return seg.access.test_and_clear_idx(lo - seg.lo, hi - seg.lo, self.work_now())

    def test_and_clear_pages(self, pages: np.ndarray) -> np.ndarray:
        """Test and clear the A bits of the given pages (ascending order)."""
        out = np.zeros(len(pages), dtype=bool)
        if len(pages) == 0:
            return out
        t = self.work_now()
        for seg, sel in self._segment_groups(pages):
            out[sel] = seg.access.test_and_clear_pages(pages[sel] - seg.lo, t)
        return out

    def peek_range(self, lo: int, hi: int) -> np.ndarray:
        """peek over the contiguous pages [lo, hi), which may span segments."""
        out = np.empty(hi - lo, dtype=bool)
        t = self.work_now()
        first = int(np.searchsorted(self.seg_lo, lo, side="right") - 1)
        for seg in self.layout.segments[first:]:
            a, b = max(lo, seg.lo), min(hi, seg.hi)
            if a >= hi:
                break
            if a < b:
                out[a - lo:b - lo] = seg.access.peek_slice(a - seg.lo, b - seg.lo, t)
        return out

    def peek(self, pages: np.ndarray) -> np.ndarray:
        """A page is still hot (young) if accessed since its last A-bit clear."""
        out = np.zeros(len(pages), dtype=bool)
        for seg, sel in self._segment_groups(pages):
            out[sel] = seg.access.peek(pages[sel] - seg.lo, self.work_now())
        return out

    def next_access_after(self, pages: np.ndarray, t: int) -> np.ndarray:
        out = np.full(len(pages), np.inf)
        tau = t if not self.closed else self.tau0 + self.speed * (t - self.tau_t0)
        for seg, sel in self._segment_groups(pages):
            out[sel] = seg.access.next_access_after(pages[sel] - seg.lo, tau)
        if self.closed:  # back to real time at the current speed
            with np.errstate(divide="ignore", invalid="ignore"):
                out = self.tau_t0 + (out - self.tau0) / self.speed
            out[np.isnan(out)] = np.inf
        return out

    def move(self, pages: np.ndarray, dst: np.ndarray | int, kind: str,
             shootdown: bool = True) -> None:
        """Move pages to dst node(s); kind is 'promote' or 'demote'. Each moved page
        needs a TLB shootdown, which stalls every thread of the workload (only the
        oracle moves for free)."""
        if len(pages) == 0:
            return
        src = self.node[pages].astype(np.int64)
        dst = np.broadcast_to(np.asarray(dst, dtype=np.int64), src.shape)
        r = self.rate[pages]
        was_fast, now_fast = self.node_is_fast[src], self.node_is_fast[dst]
        self.fast_rate += float(r[now_fast & ~was_fast].sum() - r[was_fast & ~now_fast].sum())
        self.node_rate += (np.bincount(dst, weights=r, minlength=self.n_nodes)
                           - np.bincount(src, weights=r, minlength=self.n_nodes))
        if shootdown:
            self.counters["shootdowns"] += len(pages)
        self.free += np.bincount(src, minlength=self.n_nodes)
        self.free -= np.bincount(dst, minlength=self.n_nodes)
        self.node[pages] = dst
        if kind == "promote":
            self.counters["promotions"] += len(pages)
            self.counters["pingpong"] += int(self.was_demoted[pages].sum())
            self.was_demoted[pages] = False
            self.referenced[pages] = True
        else:
            self.counters["demotions"] += len(pages)
            self.was_demoted[pages] = True
            self.referenced[pages] = False

    def wake_kswapd(self, node: int) -> None:
        if self.kswapd_enabled:
            self.kswapd_pending.add(int(node))

    # ------------------------------------------------------------ kswapd
    def _kswapd(self) -> None:
        nodes, self.kswapd_pending = sorted(self.kswapd_pending), set()
        for d in nodes:
            need = int(self.wmark_promo[d] - self.free[d])
            if need <= 0:
                continue
            self.counters["kswapd_runs"] += 1
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
        carries the referenced flag (set when a scan saw it accessed, or on
        promotion) loses the flag and is skipped (second chance); any other
        page is demoted, once (the second turn passes over the first turn's
        victims). Stops after `need` victims or two full turns; the hand stays
        after the last page examined."""
        n = self.n_pages
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
            young = self.peek_range(hand, hi)[pos]  # what the test-and-clear below finds
            keep = young | self.referenced[hand:hi][pos]
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
            self.test_and_clear_pages(hand + pos[young])
            self.referenced[hand + pos] = False
            scanned += step
            hand += step
            if hand >= n:
                hand = 0
        self.kswapd_hand[d] = hand
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    # ----------------------------------------------------------- metrics
    def _runtime_metrics(self) -> dict:
        """Completion time and its split: all-fast time + slow-access penalty + stalls."""
        if not self.closed:
            return dict(completion_s=_nan(), all_fast_s=_nan(), slowdown=_nan(),
                        runtime_penalty_s=_nan(), runtime_stall_s=_nan(), completed=0)
        done = self.completion_us == self.completion_us
        fast_s = self.tau_total / US
        comp = self.completion_us / US if done else _nan()
        return dict(completion_s=comp, all_fast_s=fast_s,
                    slowdown=comp / fast_s if done else _nan(),
                    runtime_penalty_s=self.rt["penalty_us"] / US,
                    runtime_stall_s=self.rt["stall_us"] / US, completed=int(done))

    def _sample(self) -> None:
        f0, a0, p0, d0, x0 = self._last_sample
        failed = sum(self.counters[f"failed_{r}"] for r in FAIL_REASONS)
        da = self.acc_total - a0
        s = self.series
        s["t_s"].append(self.t / US)
        s["hit_rate"].append((self.acc_fast - f0) / da if da > 0 else float("nan"))
        s["hit_rate_cum"].append(self.acc_fast / self.acc_total if self.acc_total else float("nan"))
        s["queue_len"].append(int(self.policy.queue_length()))
        s["promotions"].append(self.counters["promotions"] - p0)
        s["demotions"].append(self.counters["demotions"] - d0)
        s["failed"].append(failed - x0)
        period, size = self.policy.mm_knobs(self)
        s["scan_period_ms"].append(period)
        s["scan_size_mb"].append(size)
        self._last_sample = (self.acc_fast, self.acc_total, self.counters["promotions"],
                             self.counters["demotions"], failed)

    def _finish(self, wall_s: float) -> dict:
        c = self.counters
        dur = self.end_us / US
        hit = self.acc_fast / self.acc_total if self.acc_total > 0 else 0.0
        base = self.acc_base_fast / self.acc_total if self.acc_total > 0 else 0.0
        scan_s = self.cpu_ns["scanner"] / 1e9
        mig_s = self.cpu_ns["migrator"] / 1e9
        mark_s = self.cpu_ns["app_mark"] / 1e9
        fault_s = self.cpu_ns["app_fault"] / 1e9
        app_s = mark_s + fault_s
        cost = scan_s + mig_s + app_s
        failed = sum(c[f"failed_{r}"] for r in FAIL_REASONS)
        m: dict = dict(
            policy=self.policy.name,
            hit_rate=hit,
            hit_rate_none=base,
            hit_rate_gain=hit - base,
            accesses=self.acc_total,
            promotions=c["promotions"],
            promote_failed=failed,
            **{f"failed_{r}": c[f"failed_{r}"] for r in FAIL_REASONS},
            demotions=c["demotions"],
            pingpong=c["pingpong"],
            ptes_scanned=c["ptes_scanned"],
            mm_scans=c["mm_scans"],
            vma_scans=c["vma_scans"],
            migadded=c["migadded"],
            slowtier=c["slowtier"],
            toptier=c["toptier"],
            idlepage=c["idlepage"],
            hint_faults=c["hint_faults"],
            migrate_dropped=c["migrate_dropped"],
            kswapd_runs=c["kswapd_runs"],
            scanner_cpu_s=scan_s,
            migrator_cpu_s=mig_s,
            app_overhead_s=app_s,
            cost_cpu_s=cost,
            bytes_promoted=c["promotions"] * self.page_bytes,
            bytes_demoted=c["demotions"] * self.page_bytes,
            bytes_migrated=(c["promotions"] + c["demotions"]) * self.page_bytes,
            time_to_90pct_s=time_to_fraction(self.series["t_s"], self.series["hit_rate"], 0.9),
            objective=objective(hit, base, cost, dur),
            numab_task_work_s=mark_s,
            numab_hint_fault_s=fault_s,
            **self._runtime_metrics(),
            duration_s=dur,
            pages=self.n_pages,
            footprint_gb=self.n_pages * self.page_bytes / (1 << 30),
            wall_s=wall_s,
        )
        return m


def _nan() -> float:
    return float("nan")


def objective(hit: float, hit_none: float, cost_cpu_s: float, duration_s: float) -> float:
    """Fast-tier hit-rate gain over `none`, in percentage points, per percent of
    one CPU spent on promotion (scan + migration + application-charged), with a
    floor of 1 % of a CPU: gain_pp / (cpu_pct + 1). Doing nothing scores 0."""
    cpu_pct = 100.0 * cost_cpu_s / duration_s
    return 100.0 * (hit - hit_none) / (cpu_pct + 1.0)


def time_to_fraction(t: list, hit: list, frac: float) -> float:
    """First sample time at which the interval hit rate reaches frac x its final
    level (the mean over the last 10 % of samples)."""
    h = np.asarray(hit, dtype=float)
    if len(h) == 0 or np.all(np.isnan(h)):
        return float("nan")
    tail = h[-max(1, len(h) // 10):]
    final = float(np.nanmean(tail)) if not np.all(np.isnan(tail)) else 0.0
    ok = np.flatnonzero(np.nan_to_num(h, nan=-1.0) >= frac * final)
    return float(t[ok[0]]) if len(ok) else float("nan")
