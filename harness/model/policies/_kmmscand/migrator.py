"""kmmscand's migration-thread half (kmmmigrated): passes over the migration
list that take simulated time, with the kernel's per-entry checks, the batch,
rate-limit and (through the list) de-duplication knobs, kswapd wake-ups on a
full destination, and V3's failure feedback.

A pass takes the list's entries in FIFO order, one after the other on the
thread's own clock (integer ns, so that the per-page reference adds up the same
times): each entry costs by its outcome (success: copy + unmap + the TLB
shootdown round the initiator waits for; failure; stale or duplicate) and its
page moves when the entry completes. The work is done in chunks, each up to the
engine's next event, so that every other event sees the list and the pages as
they are at its time; entries the scanner splices on during the pass are
drained by the same pass. The pass ends when no visible entry is left, when
migrate_batch entries were processed, or when the rate limit's allowance is
spent; the thread then sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB, PolicyConfig
from harness.model.kernels import migrate_entries
from harness.model.kernels.migrate import INELIGIBLE, NOT_HOT, OK, SAME_NODE, WATERMARK
from harness.model.kernels.records import N_OUTCOMES, Outcome
from harness.model.policies._kmmscand.queue import EntryQueue
from harness.model.policies._kmmscand.slot import KmmscandSlot

if TYPE_CHECKING:
    from harness.model.engine import Sim

FEEDBACK_EVERY = 1024


# What a chunk of work leaves the thread to do next: go on at its clock; go
# on once the next event ran (the next entry would end after it); sleep (the
# pass is over); stop (nothing ends before the run does).
MORE, WAIT, SLEEP, HORIZON = "more", "wait", "sleep", "horizon"


@dataclass
class Processed:
    """What one chunk of a pass processed: its entries (from the head of the
    list), when the last one ended (ns), the entries by outcome code, the
    attempts and successes by mm, the destination nodes found full, and
    whether the entries' slab objects were freed already (the compiled walk's
    kfree, see kernels.migrate_entries)."""

    k: int
    end_ns: int
    codes: np.ndarray
    attempts: np.ndarray
    successes: np.ndarray
    full: np.ndarray
    freed: bool = False


def ceil_us(ns: int) -> int:
    """The event time (us) at which work ending at ns (an integer) is done."""
    return -(-int(ns) // 1000)


class Migrator:
    """The migration thread's work: ``begin_pass`` then ``work`` per chunk."""

    def __init__(self, cfg: PolicyConfig):
        self.cfg = cfg

    def start(self, sim: Sim, queue: EntryQueue, slots: dict[int, KmmscandSlot]) -> None:
        """Bind to the run: the list it drains (which de-duplicates) and the
        per-mm slots."""
        self.sim = sim
        self.queue = queue
        self.slots = slots
        self.clock_ns = 0       # when the thread's current work ends
        self.in_pass = False
        self.pass_done = 0      # entries processed in this pass
        self.refill_ns = 0      # the rate limit's last refill
        self.allowance = 0.0
        costs = sim.costs
        ok = round(costs.page_move_ns)
        fail, stale = round(costs.migrate_fail_ns), round(costs.migrate_stale_ns)
        # ns of an entry by Outcome (integers: exact sums in any order)
        by_outcome = {Outcome.OK: ok, Outcome.NOT_HOT: fail, Outcome.SAME_NODE: stale,
                      Outcome.INELIGIBLE: stale, Outcome.WATERMARK: fail}
        self.cost_ns = np.array([by_outcome[o] for o in Outcome], dtype=np.int64)
        self._moved, self._ats = np.empty(0, dtype=np.int32), np.empty(0)
        self._tgt = np.zeros(len(sim.mms), dtype=np.int8)  # _targets' array, kept
        # _rule_process's outputs, kept from chunk to chunk (the walk zeroes
        # them at a chunk's first call: Pass.fresh): the Processed sums
        # (codes, attempts, successes in one buffer, full) in one Processed
        # and the Moves sums.
        nm, nn = len(sim.mms), sim.mem.n_nodes
        sums = np.zeros(N_OUTCOMES + 2 * nm, dtype=np.int64)
        self._out = (sums[:N_OUTCOMES], sums[N_OUTCOMES:N_OUTCOMES + nm],
                     sums[N_OUTCOMES + nm:], np.zeros(nn, dtype=bool))
        self._processed = Processed(0, 0, *self._out)
        mv = np.zeros(2 * nn + 2)
        self._mv_parts = (mv[:nn], mv[nn:2 * nn], mv[2 * nn:])
        self._rate = self.cfg.migrate_rate_limit_mbps
        # A Slab record for a list without a slab (run 0: nothing to free).
        self._no_slab = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 1, 0, 0)
        self._cheapest_ns = int(self.cost_ns.min())
        # is_hot_page as posted. V3: the page-idle form, `!idle && (referenced
        # || young)` on the page's flags. V2: the LRU form, with CONFIG_LRU_GEN
        # lru_gen_is_active (the folio in one of its lruvec's two youngest
        # generations): an anon folio enters the LRU in them (folio_add_lru in
        # a fault marks it active; lru_gen_add_folio puts an inactive one at
        # max_seq - 1) and leaves them only when that node's lruvec ages,
        # which only its reclaim does; the model reclaims no slow-tier node
        # (kswapd demotes from the top tier), so the check passes for every
        # entry: no check is made. (On the top tier, for an entry whose page
        # was promoted already, the kernel's test could fail where the model
        # reports the stale source; both are failed entries.)
        self.hot_check_idle = bool(self.cfg.hot_check) and self.cfg.version != "v2"
        # Memory's records the walk takes at every chunk (their arrays change in place).
        self._walk_state = (sim.mem.page_state(), sim.mem.node_state(), sim.mem.node_rate,
                            sim.mm_lo)

    # ------------------------------------------------------------- the pass
    def begin_pass(self, at_ns: int) -> None:
        """The thread wakes (or, V0, finished its visits) at at_ns and starts a pass."""
        self.clock_ns = int(at_ns)
        self.in_pass = True
        self.pass_done = 0

    def _budget(self, at_ns: int) -> int | None:
        """Rate limit as a token bucket of successes: the allowance grows at the
        rate on the thread's clock (at most one second's worth is kept) and
        each promotion spends a page of it, so a limit below one page per pass
        still migrates, just not every pass. None: no limit."""
        rate = self.cfg.migrate_rate_limit_mbps
        elapsed, self.refill_ns = at_ns - self.refill_ns, at_ns
        if rate <= 0:
            return None
        per_s = rate * MIB / self.sim.page_bytes
        self.allowance = min(self.allowance + per_s * elapsed / 1e9, max(per_s, 1.0))
        return int(self.allowance)

    def work(self) -> tuple[int, str]:
        """Process the entries that end by the next event, from the thread's
        clock. Returns the CPU time spent (ns) and what comes next: MORE (the
        pass goes on at the clock), WAIT (the next entry ends after the next
        event: go on after it, from the same clock), SLEEP (the pass is over),
        HORIZON (the next entry would end after the run)."""
        c, q = self.cfg, self.queue
        start = self.clock_ns
        visible = q.visible  # when the head entry is visible (visible[0])
        if not visible or visible[0] > start / 1000:
            self.in_pass = False
            return 0, SLEEP
        if self._rate > 0:
            budget = self._budget(start)
            if budget == 0:
                self.in_pass = False
                return 0, SLEEP
        else:  # no limit: _budget's refill only
            self.refill_ns, budget = start, None
        core = self.sim.core
        end_us = core.end_us
        bound = int(min(core.thread_bound(), end_us)) * 1000
        limit = q.length
        batch = c.migrate_batch
        if batch:
            limit = min(limit, batch - self.pass_done)
        cheapest = self._cheapest_ns
        if cheapest > 0:  # no more entries than can fit before the bound
            limit = min(limit, max(bound - start, 0) // cheapest + 1)
        # At most `limit` entries: the walk itself stops at the first one not
        # visible when the one before ends (by the bound, so not visible by
        # the bound either: counting the visible entries first is no tighter).
        res = self._rule_process(limit, start, bound, budget)
        k = res.k
        if k == 0:
            return 0, (HORIZON if bound >= end_us * 1000 else WAIT)
        q.consume(k, res.freed)
        end_ns = self.clock_ns = int(res.end_ns)
        self.pass_done += k
        # The processed entries' failures counted (none when all succeeded);
        # kswapd woken on each full destination.
        codes = res.codes.tolist()
        ok = codes[OK]
        if ok != k:
            ctr = self.sim.counters
            not_hot, same, inel, wmark = (codes[NOT_HOT], codes[SAME_NODE], codes[INELIGIBLE],
                                          codes[WATERMARK])
            ctr.failed_not_hot += not_hot
            ctr.failed_same_node += same
            ctr.failed_ineligible_src += inel
            ctr.failed_dest_watermark += wmark
            ctr.migrate_stale += same + inel
            if wmark:
                wake = self.sim.mem.wake_kswapd
                for d, is_full in enumerate(res.full.tolist()):
                    if is_full:
                        wake(d)
        if c.failure_feedback:
            self.feedback(res.attempts, res.successes)
        if budget is not None:
            self.allowance -= ok
        spent = budget is not None and int(self.allowance) <= 0  # the rate limit's allowance
        if (spent or (batch and self.pass_done >= batch) or not q.visible
                or q.visible[0] > end_ns / 1000):
            self.in_pass = False
            return end_ns - start, SLEEP
        return end_ns - start, MORE  # the entries' costs, summed on the clock

    def _targets(self) -> np.ndarray:
        """Each mm's target node (0 for an mm not registered yet)."""
        # Node indices fit int8 (as in Memory.node): compares stay byte-wide.
        # Kept from chunk to chunk: each registered mm's entry rewritten.
        tgt = self._tgt
        for i, slot in self.slots.items():
            tgt[i] = slot.target
        return tgt

    # ---------------------------------------------------------- entry rules
    def _rule_process(self, n: int, start: int, bound: int, budget: int | None) -> Processed:
        """Process entries from the head (at most n), one after the other from
        ``start`` (ns): each is processed only if it is on the list (visible)
        when the previous one ends and it ends by ``bound``; the rate limit's
        ``budget`` caps the successes. Checks per entry, the first failing
        one giving the outcome: still hot (V3's is_hot_page; V2's LRU form
        passes, see start), source not slow tier (the page moved already,
        also by an earlier entry of this pass), source == destination (the
        posted order: unreachable with a top-tier destination), destination
        free pages above its high watermark (else fail and wake kswapd). A success moves its page when the entry ends.

        The walk, moves included, is kernels.migrate_entries (each entry's
        outcome depends on the ones before), over the list up to two pieces
        at a time (views of them: Entries.pages and Entries.more)."""
        mem, q = self.sim.mem, self.queue
        targets = self._targets()
        sums = self._out
        # A Moves record (its sums zeroed by the walk; now: the event's time), as mem.moves().
        moves = (*self._mv_parts, float(mem.core.now))
        moved, ats = self._move_buffers(n)
        pg, nodes, node_rate, mm_lo = self._walk_state
        done, clock, left, n_ok, pingpong = 0, start, -1 if budget is None else budget, 0, 0
        # The first call zeroes the sums and may free the entries' slab
        # objects (when it is the chunk's last too).
        fresh, freed = True, False
        slab = q.slab.head_state() if q.slab is not None else self._no_slab
        while True:
            # All that is left, up to two pieces at a time (views of the
            # list: a longer slice costs nothing; the walk stops at the bound,
            # and its outcome does not depend on where its slices end).
            pages, more, vis, more_vis = q.peek_two(n - done, done)
            got = len(pages) + len(more)
            # Records as tuples of their fields (kernels/records.py): Entries, Pass, Processed, Slab.
            k, ok, clock, pp, fr = migrate_entries(
                pg, nodes, moves, (pages, more, vis, more_vis, mm_lo, targets),
                (self.cost_ns, self.hot_check_idle, clock, bound, left, fresh, done + got >= n),
                (*sums, moved[n_ok:], ats[n_ok:], node_rate) if n_ok
                else (*sums, moved, ats, node_rate), slab)
            fresh, freed = False, freed or fr
            done += k
            n_ok += ok
            pingpong += pp
            if left >= 0:
                left -= ok
            if k < got or k == 0 or left == 0 or done >= n:
                break
        out = self._processed
        out.k, out.end_ns, out.freed = done, clock if done else start, freed
        if n_ok:
            mem.moved(moved[:n_ok], "promote", pingpong, moves, ats[:n_ok])
        return out

    def _move_buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Room for the moves of up to n entries (pages and move times), kept
        from chunk to chunk (a fresh array of a chunk's size costs more than
        its walk). Successes need free pages above the watermarks: no more."""
        if len(self._moved) < n:
            mem = self.sim.mem
            n = min(n, int(np.maximum(mem.free - mem.wmark_high, 0).sum()))
            if len(self._moved) < n:
                size = max(n, 2 * len(self._moved))
                self._moved, self._ats = np.empty(size, dtype=np.int32), np.empty(size)
        return self._moved, self._ats

    def feedback(self, attempts: np.ndarray, successes: np.ndarray) -> None:
        """V3: outcomes counted in fixed windows of 1024 entries of an mm; when
        a window closes, ``ok = (ok >> 2) + successes``, ``bad = (bad >> 2) +
        failures`` and the failure ratio ``100 * bad / (ok + bad)`` is kept in
        the slot. It does not touch scan_period here: the scanner's next visit
        applies it once, after the clamp (kscand_update_mmslot_info calling
        kscand_mstat_scan_period). A chunk that crosses a window boundary
        closes the window with all of the chunk's outcomes (attempts and
        successes: this chunk's, by mm)."""
        for i in np.flatnonzero(attempts):
            slot = self.slots[int(i)]
            before = slot.attempts
            slot.attempts += int(attempts[i])
            slot.succ += int(successes[i])
            slot.fail += int(attempts[i] - successes[i])
            if slot.attempts // FEEDBACK_EVERY > before // FEEDBACK_EVERY:
                slot.ok = (slot.ok >> 2) + slot.succ
                slot.bad = (slot.bad >> 2) + slot.fail
                slot.succ = slot.fail = 0
                if slot.ok + slot.bad:
                    slot.fratio = 100 * slot.bad // (slot.ok + slot.bad)
