"""kmmscand's migration-thread half (kmmmigrated): a pass over the head of the
migration list with the kernel's per-entry checks, the batch and rate-limit
knobs, kswapd wake-ups on a full destination, and V3's failure feedback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB, PolicyConfig
from harness.model.policies._kmmscand.queue import EntryQueue
from harness.model.policies._kmmscand.slot import KmmscandSlot

if TYPE_CHECKING:
    from harness.model.engine import Sim

FEEDBACK_EVERY = 1024

# Outcome of one list entry.
OK, NOT_HOT, SAME_NODE, INELIGIBLE, WATERMARK = 0, 1, 2, 3, 4


class Migrator:
    """The migration thread's work. ``migrate_pass`` is one pass."""

    def __init__(self, cfg: PolicyConfig):
        self.cfg = cfg

    def start(self, sim: Sim, queue: EntryQueue, slots: dict[int, KmmscandSlot],
              queued: np.ndarray | None) -> None:
        """Bind to the run: the list it drains, the per-mm slots, and the
        de-duplication bitmap (pages on the list) if that knob is on."""
        self.sim = sim
        self.queue = queue
        self.slots = slots
        self.queued = queued
        self.last_pass = 0
        self.allowance = 0.0
        self._entries_unique = False
        self._stamp: np.ndarray | None = None

    def _budget(self) -> int | None:
        """Rate limit as a token bucket: the allowance grows at the rate (at most
        one second's worth is kept) and each promotion spends a page of it, so a
        limit below one page per pass still migrates, just not every pass."""
        rate = self.cfg.migrate_rate_limit_mbps
        t = self.sim.t
        elapsed, self.last_pass = t - self.last_pass, t
        if rate <= 0:
            return None
        per_s = rate * MIB / self.sim.page_bytes
        self.allowance = min(self.allowance + per_s * elapsed / 1e6, max(per_s, 1.0))
        return int(self.allowance)

    def _targets(self) -> np.ndarray:
        """Each mm's target node (0 for an mm not registered yet)."""
        slots = self.slots
        # Node indices fit int8 (as in Memory.node): compares stay byte-wide.
        return np.array([slots[i].target if i in slots else 0 for i in range(len(self.sim.mms))],
                        dtype=np.int8)

    def migrate_pass(self) -> float:
        """Process the head of the list (all of it, or migrate_batch entries).
        Returns the CPU time spent, in ns."""
        sim, c = self.sim, self.cfg
        mem, ctr = sim.mem, sim.counters
        budget = self._budget()
        m = self.queue.length if c.migrate_batch == 0 else min(c.migrate_batch, self.queue.length)
        if m == 0 or budget == 0:
            return 0.0
        entries, self._entries_unique = self.queue.peek(m)
        targets = self._targets()
        if len(sim.mms) == 1:
            mm_idx = None
            dst = np.broadcast_to(targets[0], len(entries))
        else:
            mm_idx = sim.mm_of(entries)
            dst = targets[mm_idx]
        reason = self._rule_migrate(entries, dst, budget)
        k = len(reason)
        self.queue.consume(k)
        entries, dst = entries[:k], dst[:k]
        codes = [int(np.count_nonzero(reason == code)) for code in range(WATERMARK + 1)]
        if budget is not None:
            self.allowance -= int(codes[OK])
        ctr.failed_not_hot += codes[NOT_HOT]
        ctr.failed_same_node += codes[SAME_NODE]
        ctr.failed_ineligible_src += codes[INELIGIBLE]
        ctr.failed_dest_watermark += codes[WATERMARK]
        if codes[WATERMARK]:
            single = self._single_target(dst)
            for d in [single] if single is not None else np.unique(dst[reason == WATERMARK]):
                mem.wake_kswapd(int(d))
        if self.queued is not None:
            self.queued[entries] = False
        if c.failure_feedback:
            mm_idx = np.zeros(k, dtype=np.int64) if mm_idx is None else mm_idx[:k]
            self.feedback(mm_idx, reason == OK)
        return int(codes[OK]) * (sim.costs.migrate_page_us + sim.costs.tlb_shootdown_us) * 1000

    def _first_occurrences(self, p: np.ndarray) -> np.ndarray:
        """Positions of the first occurrence of each page, in order (O(n), no sort):
        writing positions in reverse leaves the smallest one per page."""
        if self._stamp is None:
            self._stamp = np.zeros(self.sim.n_pages, dtype=np.int64)
        pos = np.arange(len(p), dtype=np.int64)
        self._stamp[p[::-1]] = pos[::-1]
        return np.flatnonzero(self._stamp[p] == pos)

    def _single_target(self, dst: np.ndarray) -> int | None:
        """The one destination node when every live mm targets the same node."""
        targets = {self.slots[mm.spec.index].target for mm in self.sim.mms if mm.alive}
        if len(targets) == 1 and len(dst) and dst[0] in targets:
            return int(dst[0])
        return None

    def _rule_migrate(self, pages: np.ndarray, dst: np.ndarray, budget: int | None) -> np.ndarray:
        """Migrate list entries in order; return the outcome code of each entry processed.

        Checks per entry: still hot (V2+), source == destination, source not
        slow tier, destination free pages above its high watermark (else
        fail and wake kswapd). A page queued twice is migrated by its first
        entry; the later one then finds source == destination. With a rate
        limit the pass stops after `budget` successes, so the codes may cover
        only a prefix of the entries.
        """
        sim = self.sim
        mem = sim.mem
        src = mem.node[pages]
        reason = np.zeros(len(pages), dtype=np.int8)
        # Assigned in reverse order of the checks, so the first failing check wins.
        # dst is always fast, so src == dst implies a fast source.
        reason[~mem.slow_mask(src)] = INELIGIBLE
        reason[src == dst] = SAME_NODE
        if self.cfg.hot_check:
            reason[~sim.bits.peek(pages)] = NOT_HOT
        ok_idx = np.flatnonzero(reason == OK)
        chosen = []
        single = self._single_target(dst)
        for d in ([single] if single is not None else mem.fast_nodes):
            cand = ok_idx if single is not None else ok_idx[dst[ok_idx] == d]
            room = max(int(mem.free[d] - mem.wmark_high[d]), 0)
            if room == 0 or len(cand) == 0:
                continue
            # The first `room` distinct pages in list order; grow the prefix
            # only when duplicates hide some.
            if self._entries_unique:
                chosen.append(cand[:room])
                continue
            size = room
            while True:
                pre = cand[:size]
                first = self._first_occurrences(pages[pre])
                if len(first) >= room or size >= len(cand):
                    break
                size *= 2
            chosen.append(pre[first[:room]])
        if len(chosen) == 1:
            succ = chosen[0]  # already in list order
        else:
            succ = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
        if budget is not None and 0 < budget <= len(succ):
            cut = int(succ[budget - 1]) + 1
            succ = succ[:budget]
            reason = reason[:cut]
        if single is not None:
            mem.move(pages[succ], int(single), "promote")
        else:
            for d in mem.fast_nodes:
                mem.move(pages[succ[dst[succ] == d]], int(d), "promote")
        rest = reason == OK
        rest[succ] = False
        if self._entries_unique:  # no later entry of a page moved in this pass
            reason[rest] = WATERMARK
            return reason
        r_idx = np.flatnonzero(rest)
        moved_here = mem.node[pages[r_idx]] == dst[r_idx]
        reason[r_idx[moved_here]] = SAME_NODE
        reason[r_idx[~moved_here]] = WATERMARK
        return reason

    def feedback(self, mm_idx: np.ndarray, ok: np.ndarray) -> None:
        """V3: every 1024 migrations of an mm, lengthen scan_period by the failure ratio."""
        n = len(self.sim.mms)
        att = np.bincount(mm_idx, minlength=n)
        good = np.bincount(mm_idx[ok], minlength=n)
        for i in np.flatnonzero(att):
            slot = self.slots[int(i)]
            before = slot.attempts
            slot.attempts += int(att[i])
            slot.succ += int(good[i])
            slot.fail += int(att[i] - good[i])
            if slot.attempts // FEEDBACK_EVERY > before // FEEDBACK_EVERY:
                slot.ok = (slot.ok >> 2) + slot.succ
                slot.bad = (slot.bad >> 2) + slot.fail
                slot.succ = slot.fail = 0
                if slot.ok + slot.bad:
                    ratio = 100 * slot.bad // (slot.ok + slot.bad)
                    slot.scan_period = slot.scan_period * (1 + ratio // 10)
