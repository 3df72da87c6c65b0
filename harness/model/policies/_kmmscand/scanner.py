"""kmmscand's scanner half: mm slots visited round-robin, VMA-granular scans
with a resume cursor, accessed slow-tier pages queued on the migration list,
and the per-mm adaptation of scan_period and scan_size (MODEL.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB, PolicyConfig
from harness.model.draws import NO_STREAM, Stream
from harness.model.kernels import scan_ptes
from harness.model.kernels.records import (
    NO_BOOLS,
    NO_FLOATS,
    SCAN_KMMSCAND,
    SCAN_KSCAND_V2,
    SCAN_KSCAND_V3,
)
from harness.model.policies._kmmscand.queue import EntryQueue
from harness.model.policies._kmmscand.slot import KmmscandSlot

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

DECAY_SHIFT = 4
# The longest VMA (pages) whose walk writes its entries into a buffer of its
# own (1 MiB of int32 entries: below numpy's huge-page size for new arrays).
OWN_BUFFER_MAX = 1 << 18


class Scanner:
    """The PTE A-bit scanner. ``wake`` is one wake-up of the scanner thread."""

    def __init__(self, cfg: PolicyConfig):
        self.cfg = cfg

    def start(self, sim: Sim, queue: EntryQueue, slots: dict[int, KmmscandSlot],
              queued: np.ndarray | None = None) -> None:
        """Bind to the run: the list it fills (which holds the de-duplication
        knob's bitmap) and the per-mm slots; ``queued`` is not used."""
        self.sim = sim
        self.queue = queue
        self.slots = slots
        self.miss_stream = Stream([sim.cfg.seed, 0xB17])
        self._slow_of = ~sim.mem.node_is_fast  # by node index; the last entry is -1's
        self.ring: list[MMState] = []  # registered mms, in registration order
        self._cand = np.empty(0, dtype=np.int32)
        self.rr = 0
        # hot_vma_idle_pte_entry as each version posted it (records.SCAN_*);
        # second_access needs V3's order (prev_idle read before folio_set_idle).
        v = self.cfg.version
        self.form = (SCAN_KSCAND_V3 if v == "v3" or self.cfg.second_access
                     else SCAN_KSCAND_V2 if v == "v2" else SCAN_KMMSCAND)
        # The ScanRules record (kernels/records.py) as a tuple of its fields,
        # built once: they do not change during the run.
        self._rules = (self._slow_of, self.form, bool(self.cfg.second_access),
                       float(self.cfg.a_bit_miss), self.miss_stream.state)

    def add(self, mm: MMState) -> None:
        self.ring.append(mm)

    def remove(self, mm: MMState) -> None:
        i = self.ring.index(mm)
        self.ring.pop(i)
        if i < self.rr:
            self.rr -= 1
        if self.ring:
            self.rr %= len(self.ring)
        else:
            self.rr = 0

    def wake(self) -> float:
        """kscand_do_scan: mms_to_scan iterations of kscand_scan_mm_slot, each
        at the current slot of the round-robin ring (wrapping around it; it
        moves on after every iteration), which is scanned only when its
        next_scan is due at the thread's clock, the walks one after the other.
        With fewer mms than mms_to_scan the ring is gone round again, so an
        mm whose next_scan passes during the wake is scanned again in it.
        The skipped iterations take no time: a whole round without a scan
        leaves nothing for the rest to do, and the loop stops there (the ring
        position still moves on by mms_to_scan). Returns the CPU time spent
        (the walks' total), in ns."""
        sim, c = self.sim, self.cfg
        t0_ns = sim.t * 1000.0
        clock_ns = t0_ns
        n = len(self.ring)
        if not n:
            return 0.0
        ring, slots, rr = list(self.ring), self.slots, self.rr
        last = -1  # the iteration of the last scan
        for k in range(c.mms_to_scan):
            if k - last > n:
                break
            mm = ring[(rr + k) % n]
            if clock_ns < slots[mm.spec.index].next_scan * 1000.0 or c.scan_scale == 0:
                continue
            clock_ns = self.visit(mm, clock_ns)
            last = k
        self.rr = (rr + c.mms_to_scan) % n
        return clock_ns - t0_ns

    def visit(self, mm: MMState, clock_ns: float) -> float:
        """Scan one mm from its cursor, whole VMAs, until scan_size is reached;
        the walk starts at clock_ns and takes time. Returns when it ends (ns).

        The walk of a VMA costs PTEs x scan_pte_ns + scan_vma_ns + entries x
        kzalloc_ns; its entries reach the migration list (visible to the
        migration thread) when that VMA's walk ends. The A bits are read at the
        wake's event time, not at each PTE's own time (an approximation: a walk
        is milliseconds long). next_scan counts from the walk's end. Nothing
        is charged to the application: the walk holds mmap_read_lock, which
        page faults also take in read mode; only mmap writers (mmap, munmap,
        mprotect), which the modelled workloads do not issue, would wait."""
        sim, slot = self.sim, self.slots[mm.spec.index]
        mem, costs = sim.mem, sim.costs
        bounds = mm.spec.vma_bounds
        nv = len(bounds) - 1
        i = slot.cursor
        total = 0
        nvmas = 0
        scanned = np.zeros(mem.n_nodes, dtype=np.int64)
        accessed = np.zeros(mem.n_nodes, dtype=np.int64)  # top-tier nr_accessed
        slow = queued = 0
        dedup = self.queue.queued  # the de-duplication knob's pages on the list
        while True:
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            a_slow, q = self._rule_scan_pages(lo, hi, scanned, accessed)
            slow += a_slow
            if dedup is not None:  # no entry, so no kzalloc, for a page on the list
                q = q[~dedup[q]]
            clock_ns += (hi - lo) * costs.scan_pte_ns + costs.scan_vma_ns + len(q) * costs.kzalloc_ns
            queued += len(self.queue.push(q, clock_ns / 1000, owned=q.base is not self._cand))
            total += (hi - lo) * mem.page_bytes
            nvmas += 1
            i += 1
            if i == nv:
                i = 0
                break
            if total >= slot.scan_size:
                break
        slot.cursor = i
        ptes = int(scanned.sum())
        top = int(accessed.sum())
        ctr = sim.counters
        ctr.mm_scans += 1
        ctr.vma_scans += nvmas
        ctr.ptes_scanned += ptes
        ctr.migadded += queued
        ctr.toptier += top
        ctr.slowtier += slow
        ctr.idlepage += ptes - top - slow
        self.adapt(mm, slow, scanned, math.ceil(clock_ns / 1000), accessed)
        return clock_ns

    def _rule_scan_pages(self, lo: int, hi: int, scanned: np.ndarray,
                         accessed: np.ndarray) -> tuple[int, np.ndarray]:
        """One VMA's PTEs [lo, hi) (all present: a live mm's pages), the
        kernel's hot_vma_idle_pte_entry over a page slice, in its version's
        form (self.form).

        Test-and-clear each A bit (a_bit_miss: some set bits read clear, x86's
        clear without a TLB flush); an A bit clears PG_idle and sets PG_young
        (page_idle_clear_pte_refs). kmmscand (V0, V1) and kscand V2: accessed,
        with the flags as the visit found them, is ``!idle || young ||
        referenced || A``; every PTE ends idle (folio_set_idle), except in V2
        an accessed top-tier page, whose walk returns before folio_set_idle.
        kscand V3 (or second_access): folio_set_idle first, then the A-bit
        clear, so a slow-tier page is accessed iff ``!idle && (young ||
        referenced)``, i.e. its A bit was set; with second_access also
        ``!prev_idle`` (read before the set): not idle when the visit began (A
        set at the previous visit, newly faulted, or reclaim's walk cleared
        PG_idle since); a top-tier page counts as accessed iff ``young ||
        referenced || A``. Accessed slow-tier pages are queued.

        Adds the PTEs per node to `scanned` and the top-tier accessed PTEs
        per node to `accessed` (the visit's sums); returns (slow-tier
        accessed, pages to queue in page order). The walk is
        kernels.scan_ptes; Poisson pages' A bits are tested, cleared and
        redrawn inside it, exact counts' here (bits.test_and_clear).
        """
        sim = self.sim
        mem, bits = sim.mem, sim.bits
        seg = bits.segment_of(lo)
        acc = seg.access
        t = float(bits.work_now())
        if acc.form == "rate":  # the walk tests, clears and redraws itself
            na, rate, a_given = (acc.next_access[lo - seg.lo:hi - seg.lo],
                                 acc.rate[lo - seg.lo:hi - seg.lo], NO_BOOLS)
            stream = acc.stream.state
        else:
            na, rate, stream = NO_FLOATS, NO_FLOATS, NO_STREAM
            a_given = bits.test_and_clear(lo, hi)
        # int32, the migration list's entries; + 1: see scan_ptes. A VMA's
        # own buffer, which the list keeps (EntryQueue.push, owned) when the
        # entries fill most of it: the walk writes them where they stay. A
        # large VMA's buffer is kept from visit to visit instead (a fresh
        # one's pages would fault in at every visit); the list copies from it.
        if hi - lo + 1 <= OWN_BUFFER_MAX:
            cand = np.empty(hi - lo + 1, dtype=np.int32)
        else:
            if len(self._cand) < hi - lo + 1:
                self._cand = np.empty(hi - lo + 1, dtype=np.int32)
            cand = self._cand
        # Records as tuples of their fields (kernels/records.py): ABits, ScanRules (start's).
        _, nc = scan_ptes(mem.page_state(), (na, rate, stream, t, a_given, 0, 0), self._rules,
                          lo, hi, scanned, accessed, cand)
        return nc, cand[:nc]

    def adapt(self, mm: MMState, y: int, scanned: np.ndarray, end_us: int | None = None,
              accessed: np.ndarray | None = None) -> None:
        """The per-mm adaptation table of kmmscand_update_mmslot_info (V3: then
        the failure ratio, then the prctl scale); y is the
        visit's slow-tier accessed count, scanned the PTEs per node (nr_scanned),
        accessed the top-tier accessed PTEs per node (nr_accessed), end_us
        when the walk ended (next_scan counts from there; default now).

        Then get_target_node: the top-tier node with the most of this visit's
        PTEs, counted by nr_scanned in V0-V2 and by nr_accessed in V3 (its
        "heuristic to calculate target node"), the first such node on a tie;
        none above 0: the target_node knob."""
        sim, c, slot = self.sim, self.cfg, self.slots[mm.spec.index]
        period, size = slot.scan_period, slot.scan_size
        if c.adapt:
            old = slot.scan_delta
            total = (old >> DECAY_SHIFT) + y
            if total < c.scan_change_scale:
                total = 0
            if not old and not total:
                period = period * 115 // 100
                size >>= 1
            elif old and total:
                period = period * 85 // 100
                size <<= 1
            elif old and not total:
                period <<= 3
            else:
                period >>= 3
                size = c.scan_size_max_mb * MIB
            period = min(max(period, c.scan_period_min_ms), c.scan_period_max_ms)
            size = min(max(size, c.scan_size_min_mb * MIB), c.scan_size_max_mb * MIB)
            slot.scan_delta = total
        if c.failure_feedback:
            # kscand_mstat_scan_period: once per visit, after the clamp, by the
            # failure ratio the migrator's last closed window left. The stored
            # period is clamped again at the next visit, so it stays within
            # scan_period_max_ms * (1 + 100 // 10) (times the prctl scale).
            period = min(max(period, c.scan_period_min_ms), c.scan_period_max_ms)
            period = period * (1 + slot.fratio // 10)
        if c.version == "v3" and c.scan_scale != 1:
            period += period * (c.scan_scale - 1) // 9
        slot.scan_period, slot.scan_size = period, size
        slot.next_scan = (sim.t if end_us is None else end_us) + period * 1000
        fast = sim.mem.fast_nodes
        count = accessed if c.version == "v3" and accessed is not None else scanned
        best = fast[np.argmax(count[fast])]
        slot.target = (int(best) if count[best] > 0
                       else sim.mem.node_ids.index(c.target_node))
