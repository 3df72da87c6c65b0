"""kmmscand's scanner half: mm slots visited round-robin, VMA-granular scans
with a resume cursor, accessed slow-tier pages queued on the migration list,
and the per-mm adaptation of scan_period and scan_size (MODEL.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB, PolicyConfig
from harness.model.memory import PG_REFERENCED
from harness.model.policies._kmmscand.queue import EntryQueue
from harness.model.policies._kmmscand.slot import KmmscandSlot

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

DECAY_SHIFT = 4


class Scanner:
    """The PTE A-bit scanner. ``wake`` is one wake-up of the scanner thread."""

    def __init__(self, cfg: PolicyConfig):
        self.cfg = cfg

    def start(self, sim: Sim, queue: EntryQueue, slots: dict[int, KmmscandSlot],
              queued: np.ndarray | None) -> None:
        """Bind to the run: the list it fills, the per-mm slots, and the
        de-duplication bitmap (pages on the list) if that knob is on."""
        c = self.cfg
        self.sim = sim
        self.queue = queue
        self.slots = slots
        self.queued = queued
        self.prev_accessed = np.zeros(sim.n_pages, dtype=bool) if c.second_access else None
        self.miss_rng = np.random.default_rng([sim.cfg.seed, 0xB17])
        self.ring: list[MMState] = []  # registered mms, in registration order
        self.rr = 0
        self.visit_seq = 0

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
        """Visit up to mms_to_scan mms from the round-robin position, each only
        when its next_scan is due. Returns the CPU time spent, in ns."""
        sim, c = self.sim, self.cfg
        t = sim.t
        cost_ns = 0.0
        n = len(self.ring)
        visits = min(c.mms_to_scan, n)
        order = [self.ring[(self.rr + k) % n] for k in range(visits)]
        for mm in order:
            if t < self.slots[mm.spec.index].next_scan or c.scan_scale == 0:
                continue
            cost_ns += self.visit(mm)
        if n:
            self.rr = (self.rr + visits) % n
        return cost_ns

    def visit(self, mm: MMState) -> float:
        """Scan one mm from its cursor, whole VMAs, until scan_size is reached.
        Returns the CPU time, in ns."""
        sim, slot = self.sim, self.slots[mm.spec.index]
        mem = sim.mem
        self.visit_seq += 1
        bounds = mm.spec.vma_bounds
        nv = len(bounds) - 1
        i = slot.cursor
        total = 0
        nvmas = 0
        scanned = np.zeros(mem.n_nodes, dtype=np.int64)
        accessed = np.zeros(mem.n_nodes, dtype=np.int64)
        slow_accessed = 0
        queued = 0
        while True:
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            s, a, y, q = self._rule_scan_pages(lo, hi)
            scanned += s
            accessed += a
            slow_accessed += y
            queued += q
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
        n_acc = int(accessed.sum())
        top = int(accessed[mem.fast_nodes].sum())
        ctr = sim.counters
        ctr.mm_scans += 1
        ctr.vma_scans += nvmas
        ctr.ptes_scanned += ptes
        ctr.migadded += queued
        ctr.toptier += top
        ctr.slowtier += n_acc - top
        ctr.idlepage += ptes - n_acc
        self.adapt(mm, slow_accessed, scanned)
        return ptes * sim.costs.scan_pte_ns + nvmas * sim.costs.scan_vma_ns

    def _rule_scan_pages(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Test-and-clear the A bits of pages [lo, hi) (allocated: a live mm's
        VMA); queue accessed slow-tier pages.

        Returns (scanned per node, accessed per node, slow-tier accessed, queued).
        """
        sim, c = self.sim, self.cfg
        mem = sim.mem
        idx = sim.bits.test_and_clear_idx(lo, hi)
        if c.a_bit_miss > 0 and len(idx):
            missed = self.miss_rng.random(len(idx)) < c.a_bit_miss
            idx = idx[~missed]
        nodes = mem.node[lo:hi]
        acc_nodes = nodes[idx]
        scanned = mem.count_nodes(nodes)
        accessed = mem.count_nodes(acc_nodes)
        mem.pgflags[lo:hi][idx] |= PG_REFERENCED
        cand = idx[mem.slow_mask(acc_nodes)]
        n_slow = len(cand)
        if self.prev_accessed is not None:
            prev = self.prev_accessed[lo:hi]
            cand = cand[prev[cand]]
            prev[:] = False
            prev[idx] = True
        q = lo + cand
        if self.queued is not None:
            q = q[~self.queued[q]]
            self.queued[q] = True
        self.queue.push(q, self.visit_seq)
        return scanned, accessed, n_slow, len(q)

    def adapt(self, mm: MMState, y: int, scanned: np.ndarray) -> None:
        """The per-mm adaptation table of kmmscand_update_mmslot_info; y is the
        visit's slow-tier accessed count, scanned the PTEs per node."""
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
        if c.version == "v3" and c.scan_scale != 1:
            period += period * (c.scan_scale - 1) // 9
        slot.scan_period, slot.scan_size = period, size
        slot.next_scan = sim.t + period * 1000
        fast = sim.mem.fast_nodes
        best = fast[np.argmax(scanned[fast])]
        slot.target = (int(best) if scanned[best] > 0
                       else sim.mem.node_ids.index(c.target_node))
