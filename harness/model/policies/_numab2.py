"""NUMA balancing in tiering mode (numa_balancing=2, "NUMAB2").

task_numa_work (in the task's context, cost charged to the application)
marks slow-tier pages of an mm PROT_NONE with change_prot_numa, a budget of
numab_scan_size_mb a pass; the first access after marking takes a hint fault
(numab_tick_ms is the model's resolution for processing them). The fault
goes to one of the mm's threads; the page's destination is that CPU's node
(mpol_misplaced: the local node of the faulting CPU). should_numa_migrate_memory
then promotes at once if the destination has plenty of free memory
(pgdat_free_space_enough), else if the hint-fault latency is under the
node's threshold and the node's rate limit allows (numa_promotion_rate_limit);
the threshold moves toward the rate limit every threshold_adjust_s
(numa_promotion_adjust_threshold). The migration is synchronous in the
faulting task and fails, waking kswapd, if the destination is at or under
its high watermark (migrate_balanced_pgdat).

The scan period is upstream's (_numab_scan.py) unless numab_scan_period_ms
fixes it: the first pass comes scan_delay after the task starts, then passes
follow numa_scan_period, from task_scan_start, moved within the RSS-scaled
[task_scan_min, task_scan_max] by update_task_scan_period once a full scan
sequence has passed with hint faults recorded. In tiering mode a fault on a
slow-tier page that stays there records nothing (task_numa_fault returns
early); a promoted page's fault is recorded on its new top-tier node (local),
and a fault on a top-tier page is local when on the faulting CPU's node.
Normal mode (numab=1) records all.

Each change_prot_numa range that updated a PTE ends in a TLB flush
(change_protection's flush_tlb_range: an IPI round to the mm's CPUs, which the
application pays); promoting a hinted page needs none, since its PTE is
PROT_NONE and not accessible (ptep_clear_flush skips the flush).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harness.config import GIB, MIB
from harness.model.core import PRIO_POLICY
from harness.model.policies._base import Policy
from harness.model.policies._numab_promote import PromoteState, PromotionFilters
from harness.model.policies._numab_scan import (
    SCAN_DELAY_MS,
    VMA_PID_RESET_PERIOD_MS,
    save_scan_offset,
    task_nr_scan_windows,
    task_scan_max,
    task_scan_min,
    update_task_scan_period,
    vma_is_accessed,
    vma_numab_state,
)

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

HPAGE_BYTES = 2 << 20  # HPAGE_SIZE (x86 PMD): task_numa_work's chunks end on its boundaries
VIRT_FACTOR = 8        # virtpages = pages * 8: the virtual range a pass may skip through
CPU_STREAM = 0x4E55    # seed tag of the stream that picks the faulting CPU's node


@dataclass(slots=True)
class Numab2Slot:
    """Per-mm scan state (task_numa_work's mm->numa_scan_offset and the
    task's numa_scan_period; the mm's threads are one task here)."""

    cursor: int = 0  # page offset in the mm where the next marking pass starts
    scan_period: int = 0  # ms; 0 until the first pass sets task_scan_start
    seq: int = 0     # numa_scan_seq: full sequences (cursor wraps) so far
    # numa_faults_locality since the last placement: remote, local. Its
    # failed-migration count stays 0: a slow-tier page whose promotion fails
    # is not recorded in tiering mode, and numab=1 migrates nothing.
    remote: int = 0
    local: int = 0
    # vma->numab_state of each VMA seen by task_numa_work, by VMA index.
    vmas: dict = field(default_factory=dict)


class Numab2Policy(PromotionFilters, Policy):
    name = "numab2"
    memory_tiering = True  # numa_balancing=2
    marks_top_tier = False  # NUMA_BALANCING_NORMAL (mode 1) marks the top tier too

    def start(self, sim: Sim) -> None:
        c, mem = self.cfg, sim.mem
        self.sim = sim
        self.slots: dict[int, Numab2Slot] = {}
        n = sim.n_pages
        self.prot_none = np.zeros(n, dtype=bool)  # marked, hint fault not taken yet
        self.mark_time = np.full(n, -1, dtype=np.int64)
        self.buckets: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.tick_us = c.numab_tick_ms * 1000
        self.scan_pages = c.numab_scan_size_mb * MIB // sim.page_bytes
        self.hpage_pages = max(HPAGE_BYTES // sim.page_bytes, 1)
        self.ref_th_us = c.hot_threshold_ms * 1000
        self.period_us = int(c.threshold_adjust_s * 1e6)
        # MB_TO_PAGES: whole pages a second.
        self.rate_limit_pages = int(c.promote_rate_limit_mbps * MIB // sim.page_bytes)
        # pgdat_free_space_enough: free pages above the promo watermark plus
        # max(1 GB, node size / 16).
        margin = np.maximum(GIB // sim.page_bytes, mem.capacity >> 4)
        self.enough_wmark = mem.wmark_promo + margin
        self.fast_nodes = mem.fast_nodes
        self.promo = {int(d): PromoteState() for d in mem.fast_nodes}
        # The mm's threads run spread evenly over the sockets, one per top-tier
        # node; which thread takes a fault is drawn per fault from this stream.
        self.cpu_rng = np.random.default_rng([sim.cfg.seed, CPU_STREAM])
        self.pending = 0
        # get_nr_threads of the task: the closed loop's threads, else one.
        rt = sim.cfg.runtime
        self.nr_threads = rt.threads if rt.enabled else 1
        sim.schedule(self.tick_us, PRIO_POLICY + 1, self._tick)

    def on_mm_start(self, sim: Sim, mm: MMState) -> None:
        self.on_mm_start_at(sim, mm, sim.t + self.cfg.first_scan_delay_ms * 1000)

    def on_mm_start_at(self, sim: Sim, mm: MMState, first_us: int) -> None:
        """Register the mm; its first marking pass at first_us."""
        self.slots[mm.spec.index] = Numab2Slot()
        sim.schedule(first_us, PRIO_POLICY, lambda m=mm: self._mark(m))

    def queue_length(self) -> int:
        return self.pending

    # --------------------------------------------------------------- marking
    def _mark(self, mm: MMState) -> None:
        if not mm.alive:
            return
        sim, c = self.sim, self.cfg
        self._faults_until(sim.t)
        slot = self.slots[mm.spec.index]
        if not slot.scan_period:
            slot.scan_period = self._start_period(mm)
        seq = slot.seq
        walked, flushes = self._task_numa_work(mm)
        # Each flush: the initiator waits tlb_shootdown_us, every CPU of the
        # mm takes the IPI (the runtime's shootdown stall).
        sim.cpu_ns.app_mark += (walked * sim.costs.numab_mark_pte_ns
                                + flushes * sim.costs.tlb_shootdown_us * 1000)
        sim.counters.shootdowns += flushes
        self._count_pass(walked)
        if slot.seq != seq:
            self._placement(mm, slot)
        period = c.numab_scan_period_ms or slot.scan_period
        sim.schedule(sim.t + period * 1000, PRIO_POLICY, lambda: self._mark(mm))

    def _start_period(self, mm: MMState) -> int:
        """The task's numa_scan_period at its first pass (ms). init_numa_balancing
        starts every task at scan_delay; task_tick_numa replaces that with
        task_scan_start only while node_stamp is 0, i.e. for the exec'd main
        thread. A thread cloned with CLONE_VM gets a staggered node_stamp and
        keeps scan_delay until its first placement: the closed loop's worker
        threads (more than one) pace the passes so."""
        if self.nr_threads > 1:
            return SCAN_DELAY_MS
        return self._scan_limits(mm)[0]  # task_scan_start = task_scan_min (no numa_group)

    def _scan_limits(self, mm: MMState) -> tuple[int, int]:
        """task_scan_min and task_scan_max (ms) for the mm's RSS now."""
        c, s = self.cfg, mm.spec
        rss = int(np.count_nonzero(self.sim.mem.node[s.lo:s.hi] >= 0))
        w = task_nr_scan_windows(rss, c.numab_scan_size_mb, self.sim.page_bytes)
        smin = task_scan_min(w, c.numab_scan_size_mb, c.numab_scan_period_min_ms)
        return smin, task_scan_max(w, smin, c.numab_scan_period_max_ms)

    def _placement(self, mm: MMState, slot: Numab2Slot) -> None:
        """task_numa_placement after a new scan sequence: if faults were
        recorded since the last one, update_task_scan_period (all recorded
        faults are the task's own: private) and reset the locality counts."""
        n = slot.local + slot.remote
        if n == 0:
            return  # no recorded fault: task_numa_placement does not run
        smin, smax = self._scan_limits(mm)
        slot.scan_period = update_task_scan_period(slot.scan_period, slot.local, slot.remote,
                                                   n, 0, 0, smin, smax)
        slot.local = slot.remote = 0

    def _count_pass(self, walked: int) -> None:
        """The scan counters: NUMAB2's passes are the policy's scans."""
        self.sim.counters.ptes_scanned += walked
        self.sim.counters.mm_scans += 1

    def _task_numa_work(self, mm: MMState) -> tuple[int, int]:
        """One pass of task_numa_work from the mm's cursor: chunks of the VMAs,
        each ending on an HPAGE_SIZE boundary after the remaining budget (or at
        the VMA's end); a chunk in which change_prot_numa updated any PTE takes
        its whole length off the budget (`pages`) and ends in a TLB flush,
        every chunk takes it off the virtual range (`virtpages` = 8 x the
        budget). Returns the PTEs walked and the flushes. The cursor wraps to
        the mm's start at its end (a real mm has more VMAs above, e.g. the
        stack), which starts a new numa_scan_seq.

        Per VMA, as task_numa_work does with vma->numab_state: a new VMA is
        left alone for scan_delay after it is first seen (from the second
        sequence on), its pid windows rotate every VMA_PID_RESET_PERIOD, a
        VMA already scanned in this sequence is skipped (the cursor moves past
        it), and one that vma_is_accessed() rejects is skipped; if the walk
        reaches the end of the VMAs having skipped any that way, it retries
        from the cursor with the skip off, scanning one VMA at most."""
        s = mm.spec
        slot = self.slots[s.index]
        bounds = s.vma_bounds
        nv = len(bounds) - 1
        pages = self.scan_pages
        virtpages = pages * VIRT_FACTOR
        hp = self.hpage_pages
        now = self.sim.t
        walked = flushes = 0
        forced = False
        while True:  # retry_pids
            start = s.lo + slot.cursor
            v = int(np.searchsorted(bounds, start, side="right")) - 1
            skipped = False
            while v < nv:
                vma_lo, vma_hi = int(bounds[v]), int(bounds[v + 1])
                st = vma_numab_state(slot.vmas, v, slot.seq, now)
                v += 1
                if slot.seq and now < st.next_scan:
                    continue  # NUMAB_SKIP_SCAN_DELAY
                if slot.seq and now > st.pids_active_reset:
                    st.pids_active_reset += VMA_PID_RESET_PERIOD_MS * 1000
                    st.pids_active[0], st.pids_active[1] = st.pids_active[1], False
                if st.prev_scan_seq == slot.seq:
                    slot.cursor = vma_hi - s.lo  # NUMAB_SKIP_SEQ_COMPLETED
                    continue
                if not forced and not vma_is_accessed(
                        slot.seq, st.start_scan_seq, tuple(st.pids_active), slot.cursor,
                        vma_lo - s.lo, st.prev_scan_seq, self.nr_threads):
                    skipped = True  # NUMAB_SKIP_PID_INACTIVE
                    continue
                end = start
                while end != vma_hi:
                    start = max(start, vma_lo)
                    end = min(s.lo + -(-(start - s.lo + pages) // hp) * hp, vma_hi)
                    if self._rule_change_prot_numa(start, end):
                        pages -= end - start
                        flushes += 1
                    virtpages -= end - start
                    walked += end - start
                    start = end
                    if pages <= 0 or virtpages <= 0:
                        save_scan_offset(slot, s.lo, s.hi, start)
                        return walked, flushes
                st.prev_scan_seq = slot.seq  # the VMA's scan is complete
                if forced:  # one VMA at a time when forced
                    save_scan_offset(slot, s.lo, s.hi, start)
                    return walked, flushes
            if skipped and not forced:
                forced = True
                continue
            save_scan_offset(slot, s.lo, s.hi, s.hi)  # the mm's end: wrap
            return walked, flushes

    def _rule_vma_access(self, pages: np.ndarray) -> None:
        """vma_set_access_pid_bit (numa_migrate_check, every hint fault): the
        faulting task's bit in pids_active[1] of each faulted page's VMA."""
        if len(pages) == 0:
            return
        mm = self.sim.mm_of(pages)
        for i in np.unique(mm):
            slot = self.slots.get(int(i))
            if slot is None:
                continue
            spec = self.sim.mms[int(i)].spec
            vs = np.unique(np.searchsorted(spec.vma_bounds, pages[mm == i], side="right") - 1)
            for v in vs:
                st = slot.vmas.get(int(v))
                if st is not None:
                    st.pids_active[1] = True

    def _rule_change_prot_numa(self, lo: int, hi: int) -> int:
        """change_prot_numa over pages [lo, hi): a page not PROT_NONE yet is
        marked, on the slow tier only in tiering mode (change_pte_range skips
        top-tier pages without NUMA_BALANCING_NORMAL; marks_top_tier), pages
        skipped keeping their mark time; its next access is its hint fault,
        filed in its tick bucket. Returns the PTEs updated."""
        sim, mem = self.sim, self.sim.mem
        upd = ~self.prot_none[lo:hi]
        if not self.marks_top_tier:
            upd &= ~mem.node_is_fast[mem.node[lo:hi]]
        pages = lo + np.flatnonzero(upd)
        if len(pages) == 0:
            return 0
        self.prot_none[pages] = True
        self.mark_time[pages] = sim.t
        ft = sim.bits.next_access_after(pages, sim.t)
        due = ft <= sim.end_us
        self._file(pages[due], ft[due])
        return len(pages)

    def _file(self, pages: np.ndarray, ft: np.ndarray) -> None:
        """File hint faults (pages in ascending order) in their tick buckets."""
        if len(pages) == 0:
            return
        self.pending += len(pages)
        tick = np.ceil(ft / self.tick_us).astype(np.int64)
        order = np.argsort(tick, kind="stable")
        pages, ft, tick = pages[order], ft[order], tick[order]
        cuts = np.flatnonzero(np.diff(tick)) + 1
        for p, f, k in zip(np.split(pages, cuts), np.split(ft, cuts), tick[np.r_[0, cuts]],
                           strict=True):
            self.buckets.setdefault(int(k), []).append((p, f))

    # ---------------------------------------------------------------- faults
    def _tick(self) -> None:
        sim = self.sim
        self._faults_until(sim.t)
        sim.schedule(sim.t + self.tick_us, PRIO_POLICY + 1, self._tick)

    def _faults_until(self, t: int) -> None:
        k_now = t // self.tick_us
        keys = sorted(k for k in self.buckets if k <= k_now)
        if not keys:
            return
        parts = [x for k in keys for x in self.buckets.pop(k)]
        pages = np.concatenate([p for p, _ in parts])
        ft = np.concatenate([f for _, f in parts])
        self.pending -= len(pages)
        live = self.sim.mem.node[pages] >= 0  # pages of an exited mm are gone
        pages, ft = pages[live], ft[live]
        if len(pages) == 0:
            return
        order = np.lexsort((pages, ft))
        pages, ft = pages[order], ft[order]
        self.prot_none[pages] = False  # the fault restores the PTE
        self._rule_vma_access(pages)
        self._rule_faults(pages, ft, t)

    def _cpu_nodes(self, n: int) -> np.ndarray:
        """Node of the CPU taking each of n hint faults: the mm's threads spread
        evenly over the top-tier nodes' sockets, one drawn per fault."""
        fast = self.fast_nodes
        if len(fast) == 1:
            return np.full(n, int(fast[0]), dtype=np.int64)
        return fast[(self.cpu_rng.random(n) * len(fast)).astype(np.int64)]

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        """Hint faults in time order, each to its CPU's node: promote if that node
        has plenty of free memory; else if the latency is under the node's
        threshold (adjusted first when its period is over) and the node's rate
        limit allows, and only while the node stays above its high watermark.
        Nodes do not interact within a batch, so each node's faults are taken
        together, in runs between threshold adjustments."""
        sim, costs = self.sim, self.sim.costs
        mem, ctr = sim.mem, sim.counters
        n = len(pages)
        ctr.hint_faults += n
        sim.cpu_ns.app_fault += n * costs.hint_fault_us * 1000
        dst = self._cpu_nodes(n)
        slow = ~mem.node_is_fast[mem.node[pages]]
        # task_numa_fault records a top-tier page's fault (local when on the
        # faulting CPU's node); a slow-tier page's is not recorded in tiering mode.
        self._record_faults(pages[~slow], mem.node[pages[~slow]] == dst[~slow])
        moved = 0
        for d in np.unique(dst[slow]):
            d = int(d)
            idx = np.flatnonzero(slow & (dst == d))
            st = self.promo[d]
            # pgdat_free_space_enough: promote at once (and reset the threshold).
            k = min(max(int(mem.free[d]) - int(self.enough_wmark[d]), 0), len(idx))
            if k:
                st.nbp_threshold = 0
            rest = idx[k:]
            allowed = self._candidates(st, ft[rest], ft[rest] - self.mark_time[pages[rest]])
            ok = rest[allowed]
            room = max(int(mem.free[d]) - k - int(mem.wmark_high[d]), 0)
            if len(ok) > room:
                ctr.failed_dest_watermark += len(ok) - room
                mem.wake_kswapd(d)
            go = pages[np.concatenate([idx[:k], ok[:room]])]
            mem.move(go, d, "promote", shootdown=False)  # PROT_NONE: no flush
            moved += len(go)
            # do_numa_page passes the target node after a migration: top tier, local.
            self._record_faults(go, np.ones(len(go), dtype=bool))
        sim.cpu_ns.app_fault += moved * costs.migrate_page_us * 1000

    def _record_faults(self, pages: np.ndarray, local: np.ndarray) -> None:
        """task_numa_fault's numa_faults_locality for recorded faults: each
        page's local/remote count to its mm's task."""
        if len(pages) == 0:
            return
        mm = self.sim.mm_of(pages)
        nm = len(self.sim.mms)
        loc = np.bincount(mm[local], minlength=nm)
        rem = np.bincount(mm[~local], minlength=nm)
        for i in np.flatnonzero(loc + rem):
            slot = self.slots.get(int(i))
            if slot is not None:
                slot.local += int(loc[i])
                slot.remote += int(rem[i])
