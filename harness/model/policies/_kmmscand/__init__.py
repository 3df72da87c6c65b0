"""kmmscand / kscand: PTE A-bit scanner plus the kmmmigrated migration thread.

Mechanics per ../shared/MODEL.md: mm slots visited round-robin each wake-up,
VMA-granular scan_size accounting with a resume cursor, per-mm adaptation of
scan_period and scan_size with the version's clamps, a migration list without
de-duplication drained every 20 + migrate_sleep_ms, and the destination
watermark check. Added knobs: batch per pass, MB/s rate limit, de-duplication,
single-thread (V0) mode.

The package: ``scanner.py`` (the scanner half), ``migrator.py`` (the
migration thread's half), ``queue.py`` (the migration list between them),
``slot.py`` (per-mm state). This module runs them as the kernel's threads.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB, PolicyConfig
from harness.model.core import PRIO_POLICY
from harness.model.policies._base import Policy
from harness.model.policies._kmmscand.migrator import Migrator
from harness.model.policies._kmmscand.queue import EntryQueue
from harness.model.policies._kmmscand.scanner import Scanner
from harness.model.policies._kmmscand.slot import KmmscandSlot

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

MIGRATOR_SLEEP_MS = 20  # the thread sleeps 20 ms, then waits up to migrate_sleep_ms


class KmmscandPolicy(Policy):
    """The two threads. ``scanner_cls`` and ``migrator_cls`` pick the halves
    (the per-page reference swaps in its own)."""

    name = "kmmscand"
    scanner_cls: type[Scanner] = Scanner
    migrator_cls: type[Migrator] = Migrator

    def __init__(self, cfg: PolicyConfig):
        super().__init__(cfg)
        self.scanner = self.scanner_cls(cfg)
        self.migrator = self.migrator_cls(cfg)

    def start(self, sim: Sim) -> None:
        c = self.cfg
        self.sim = sim
        self.queue = EntryQueue()
        self.slots: dict[int, KmmscandSlot] = {}  # by mm index, kept after exit
        queued = np.zeros(sim.n_pages, dtype=bool) if c.dedup else None
        self.scanner.start(sim, self.queue, self.slots, queued)
        self.migrator.start(sim, self.queue, self.slots, queued)
        self.queued = queued
        if c.scan_enabled:
            sim.schedule(0, PRIO_POLICY, self._scanner_thread)
        if not c.single_thread:
            sim.schedule(0, PRIO_POLICY + 1, self._migrator_thread)

    # -------------------------------------------------------------- mm slots
    def on_mm_start(self, sim: Sim, mm: MMState) -> None:
        c = self.cfg
        self.slots[mm.spec.index] = KmmscandSlot(
            next_scan=sim.t + c.first_scan_delay_ms * 1000,
            scan_period=c.scan_period_ms,
            scan_size=c.scan_size_mb * MIB,
            target=sim.mem.node_ids.index(c.target_node),
        )
        self.scanner.add(mm)

    def on_mm_exit(self, sim: Sim, mm: MMState) -> None:
        dropped = self.queue.drop_range(mm.spec.lo, mm.spec.hi)
        sim.counters.migrate_dropped += len(dropped)
        if self.queued is not None:
            self.queued[mm.spec.lo:mm.spec.hi] = False
        self.scanner.remove(mm)

    def slot(self, mm: MMState) -> KmmscandSlot:
        return self.slots[mm.spec.index]

    def queue_length(self) -> int:
        return self.queue.length

    def mm_knobs(self, sim: Sim) -> tuple[list, list]:
        slots = self.slots
        return ([slots[m.spec.index].scan_period if m.alive else None for m in sim.mms],
                [slots[m.spec.index].scan_size / MIB if m.alive else None for m in sim.mms])

    # ---------------------------------------------------------------- threads
    def _scanner_thread(self) -> None:
        """kmmscand: one wake-up, then sleep scan_sleep_ms after the work."""
        sim, c = self.sim, self.cfg
        t = sim.t
        cost_ns = self.scanner.wake()
        sim.cpu_ns.scanner += cost_ns
        if c.single_thread:
            # V0: the scanner thread migrates too; the time is the thread's, the
            # CPU is accounted as migration work.
            mig_ns = self.migrator.migrate_pass()
            sim.cpu_ns.migrator += mig_ns
            cost_ns += mig_ns
        sim.schedule(t + math.ceil(cost_ns / 1000) + c.scan_sleep_ms * 1000, PRIO_POLICY,
                     self._scanner_thread)

    def _migrator_thread(self) -> None:
        """kmmmigrated: one pass, then sleep 20 + migrate_sleep_ms after the work."""
        sim = self.sim
        cost_ns = self.migrator.migrate_pass()
        sim.cpu_ns.migrator += cost_ns
        delay = math.ceil(cost_ns / 1000) + (MIGRATOR_SLEEP_MS + self.cfg.migrate_sleep_ms) * 1000
        sim.schedule(sim.t + delay, PRIO_POLICY + 1, self._migrator_thread)


__all__ = ["EntryQueue", "KmmscandPolicy", "KmmscandSlot", "Migrator", "Scanner"]
