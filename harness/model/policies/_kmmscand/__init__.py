"""kmmscand / kscand: PTE A-bit scanner plus the kmmmigrated migration thread.

Mechanics per docs/MODEL.md: mm slots visited round-robin each wake-up,
VMA-granular scan_size accounting with a resume cursor, per-mm adaptation of
scan_period and scan_size with the version's clamps, a migration list without
de-duplication drained by passes that take time (each entry in FIFO order,
costed by its outcome, its page moved when it completes), and the destination
watermark check. Added knobs: batch per pass, MB/s rate limit,
de-duplication, single-thread (V0) mode.

The package: ``scanner.py`` (the scanner half), ``migrator.py`` (the
migration thread's half), ``queue.py`` (the migration list between them),
``slot.py`` (per-mm state). This module runs them as the kernel's threads,
each an event chain on its own clock: an event takes the thread's time, and
what it does becomes visible when it ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.config import MIB, PolicyConfig
from harness.model.core import PRIO_POLICY, PRIO_SAMPLE
from harness.model.policies._base import Policy
from harness.model.policies._kmmscand.migrator import MORE, SLEEP, WAIT, Migrator, ceil_us
from harness.model.policies._kmmscand.queue import EntryQueue
from harness.model.policies._kmmscand.scanner import Scanner
from harness.model.policies._kmmscand.slab import ENTRY_BYTES as SLAB_ENTRY_BYTES
from harness.model.policies._kmmscand.slab import EntrySlab
from harness.model.policies._kmmscand.slot import KmmscandSlot

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

MIGRATOR_SLEEP_MS = 20  # the thread sleeps 20 ms, then waits up to migrate_sleep_ms
# A thread whose next entry ends after the next event goes on after every
# event of that instant (so that it cannot run again before them).
PRIO_RESUME = PRIO_SAMPLE + 1


class KmmscandPolicy(Policy):
    """The two threads. ``scanner_cls`` and ``migrator_cls`` pick the halves
    and the list's slab (the per-page reference swaps in its own)."""

    name = "kmmscand"
    scanner_cls: type[Scanner] = Scanner
    migrator_cls: type[Migrator] = Migrator
    slab_cls: type[EntrySlab] = EntrySlab

    def __init__(self, cfg: PolicyConfig):
        super().__init__(cfg)
        self.scanner = self.scanner_cls(cfg)
        self.migrator = self.migrator_cls(cfg)

    def start(self, sim: Sim) -> None:
        c = self.cfg
        self.sim = sim
        # The list de-duplicates (dedup knob) itself, so the scanner gets no
        # bitmap; its entries are slab objects on the nodes' memory (slab.py).
        self.slab = self.slab_cls(sim.mem, c.version, sim.counters) if c.list_slab else None
        self.queue = EntryQueue(sim.n_pages, c.dedup, sim.counters, self.slab,
                                SLAB_ENTRY_BYTES[c.version])
        sim.metrics.list_bytes = lambda: self.queue.bytes
        sim.metrics.entry_bytes = self.queue.entry_bytes
        self.slots: dict[int, KmmscandSlot] = {}  # by mm index, kept after exit
        self.scanner.start(sim, self.queue, self.slots, None)
        self.migrator.start(sim, self.queue, self.slots)
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
        """kmmscand: one wake-up (its visits take time), then sleep
        scan_sleep_ms after the walks. V0: the same thread then drains the
        list in a pass (``_v0_pass``) before it sleeps; scanning pauses."""
        sim, c = self.sim, self.cfg
        t = sim.t
        cost_ns = self.scanner.wake()
        sim.cpu_ns.scanner += cost_ns
        if c.single_thread:
            self.migrator.begin_pass(t * 1000 + round(cost_ns))
            sim.schedule(ceil_us(self.migrator.clock_ns), PRIO_POLICY, self._v0_pass)
            return
        sim.schedule(ceil_us(t * 1000 + round(cost_ns) + c.scan_sleep_ms * 1_000_000),
                     PRIO_POLICY, self._scanner_thread)

    def _v0_pass(self) -> None:
        """V0's pass after its visits: chunks until the list is drained (or the
        batch / rate limit ends it), then scan_sleep_ms until the next wake-up."""
        sim, mig = self.sim, self.migrator
        cost_ns, state = mig.work()
        sim.cpu_ns.migrator += cost_ns
        if state == MORE:
            sim.schedule(ceil_us(mig.clock_ns), PRIO_POLICY, self._v0_pass, thread=True)
        elif state == WAIT:
            sim.schedule(int(sim.thread_bound()), PRIO_RESUME, self._v0_pass, thread=True)
        elif state == SLEEP:
            sim.schedule(ceil_us(mig.clock_ns + self.cfg.scan_sleep_ms * 1_000_000),
                         PRIO_POLICY, self._scanner_thread)

    def _migrator_thread(self) -> None:
        """kmmmigrated: on waking, a pass if an entry is visible; the pass runs
        in chunks up to the next event; then sleep 20 + migrate_sleep_ms."""
        sim, mig = self.sim, self.migrator
        if not mig.in_pass:
            mig.begin_pass(sim.core.now * 1000)
        cost_ns, state = mig.work()
        sim.cpu_ns.migrator += cost_ns
        if state == MORE:
            sim.schedule(ceil_us(mig.clock_ns), PRIO_POLICY + 1, self._migrator_thread,
                         thread=True)
        elif state == WAIT:
            sim.schedule(int(sim.thread_bound()), PRIO_RESUME, self._migrator_thread, thread=True)
        elif state == SLEEP:
            sleep_ns = (MIGRATOR_SLEEP_MS + self.cfg.migrate_sleep_ms) * 1_000_000
            sim.schedule(ceil_us(mig.clock_ns + sleep_ns), PRIO_POLICY + 1, self._migrator_thread)


__all__ = ["EntryQueue", "EntrySlab", "KmmscandPolicy", "KmmscandSlot", "Migrator", "Scanner"]
