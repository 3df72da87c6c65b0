"""kmmscand / kscand: PTE A-bit scanner plus the kmmmigrated migration thread.

Mechanics per ../shared/MODEL.md: mm slots visited round-robin each wake-up,
VMA-granular scan_size accounting with a resume cursor, per-mm adaptation of
scan_period and scan_size with the version's clamps, a migration list without
de-duplication drained every 20 + migrate_sleep_ms, and the destination
watermark check. Added knobs: batch per pass, MB/s rate limit, de-duplication,
single-thread (V0) mode.
"""

from __future__ import annotations

import math

import numpy as np

from harness.config import MIB
from harness.model.engine import PRIO_POLICY
from harness.model.policies._base import Policy

MIGRATOR_SLEEP_MS = 20  # the thread sleeps 20 ms, then waits up to migrate_sleep_ms
DECAY_SHIFT = 4
FEEDBACK_EVERY = 1024

OK, NOT_HOT, SAME_NODE, INELIGIBLE, WATERMARK = 0, 1, 2, 3, 4
REASON_NAMES = {NOT_HOT: "not_hot", SAME_NODE: "same_node", INELIGIBLE: "ineligible_src",
                WATERMARK: "dest_watermark"}


class EntryQueue:
    """The migration list: page indices in FIFO order, kept as numpy chunks.

    Each chunk carries the id of the scanner visit that queued it. One visit
    scans a page at most once, so entries that all come from one visit are
    distinct pages, which lets a migration pass skip duplicate handling.
    """

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.tags: list[int] = []
        self.head = 0  # entries of chunks[0] already consumed
        self.length = 0

    def push(self, pages: np.ndarray, tag: int = -1) -> None:
        if len(pages):
            self.chunks.append(np.asarray(pages, dtype=np.int64))
            self.tags.append(tag)
            self.length += len(pages)

    def peek(self, m: int) -> tuple[np.ndarray, bool]:
        """The first m entries, and whether they are certainly distinct pages."""
        out, got, tags = [], 0, set()
        for i, c in enumerate(self.chunks):
            c = c[self.head:] if i == 0 else c
            out.append(c[: m - got])
            tags.add(self.tags[i])
            got += len(out[-1])
            if got >= m:
                break
        if not out:
            return np.zeros(0, dtype=np.int64), True
        unique = len(tags) == 1 and -1 not in tags
        return (out[0] if len(out) == 1 else np.concatenate(out)), unique

    def consume(self, k: int) -> None:
        self.length -= k
        while k > 0:
            avail = len(self.chunks[0]) - self.head
            if k >= avail:
                self.chunks.pop(0)
                self.tags.pop(0)
                self.head = 0
                k -= avail
            else:
                self.head += k
                k = 0

    def drop_range(self, lo: int, hi: int) -> np.ndarray:
        """Remove the entries of pages [lo, hi) (an exiting mm); return them."""
        dropped, kept, tags = [], [], []
        for i, c in enumerate(self.chunks):
            c = c[self.head:] if i == 0 else c
            inside = (c >= lo) & (c < hi)
            dropped.append(c[inside])
            if not inside.all():
                kept.append(c[~inside])
                tags.append(self.tags[i])
        self.chunks, self.tags, self.head = kept, tags, 0
        self.length = sum(len(c) for c in kept)
        return np.concatenate(dropped) if dropped else np.zeros(0, dtype=np.int64)


class KmmscandPolicy(Policy):
    name = "kmmscand"

    def start(self, sim) -> None:
        c = self.cfg
        self.sim = sim
        self.queue = EntryQueue()
        n = sim.n_pages
        self.prev_accessed = np.zeros(n, dtype=bool) if c.second_access else None
        self.queued = np.zeros(n, dtype=bool) if c.dedup else None
        self.rr = 0
        self.slots: list = []  # MMState of registered mms, in registration order
        self.miss_rng = np.random.default_rng([sim.cfg.seed, 0xB17])
        self.page_bytes = sim.page_bytes
        self.last_pass = 0
        self.allowance = 0.0
        self.visit_seq = 0
        self._entries_unique = False
        self._stamp = None
        if c.scan_enabled:
            sim.schedule(0, PRIO_POLICY, self._scanner)
        if not c.single_thread:
            sim.schedule(0, PRIO_POLICY + 1, self._migrator)

    # -------------------------------------------------------------- mm slots
    def on_mm_start(self, sim, mm) -> None:
        c = self.cfg
        mm.slot.update(
            next_scan=sim.t + c.first_scan_delay_ms * 1000,
            scan_period=c.scan_period_ms,
            scan_size=c.scan_size_mb * MIB,
            scan_delta=0,
            cursor=0,
            target=self._node_index(sim, c.target_node),
            ok=0, bad=0, attempts=0, succ=0, fail=0,
        )
        self.slots.append(mm)

    def on_mm_exit(self, sim, mm) -> None:
        dropped = self.queue.drop_range(mm.spec.lo, mm.spec.hi)
        sim.counters["migrate_dropped"] += len(dropped)
        if self.queued is not None:
            self.queued[mm.spec.lo:mm.spec.hi] = False
        i = self.slots.index(mm)
        self.slots.pop(i)
        if i < self.rr:
            self.rr -= 1
        if self.slots:
            self.rr %= len(self.slots)
        else:
            self.rr = 0

    @staticmethod
    def _node_index(sim, node_id: int) -> int:
        return sim.node_ids.index(node_id)

    def queue_length(self) -> int:
        return self.queue.length

    def mm_knobs(self, sim):
        return ([m.slot["scan_period"] if m.alive else None for m in sim.mms],
                [m.slot["scan_size"] / MIB if m.alive else None for m in sim.mms])

    # --------------------------------------------------------------- scanner
    def _scanner(self) -> None:
        sim, c = self.sim, self.cfg
        t = sim.t
        cost_ns = 0.0
        n = len(self.slots)
        visits = min(c.mms_to_scan, n)
        order = [self.slots[(self.rr + k) % n] for k in range(visits)]
        for mm in order:
            if t < mm.slot["next_scan"] or c.scan_scale == 0:
                continue
            cost_ns += self._visit(mm)
        if n:
            self.rr = (self.rr + visits) % n
        sim.cpu_ns["scanner"] += cost_ns
        if c.single_thread:
            # V0: the scanner thread migrates too; the time is the thread's, the
            # CPU is accounted as migration work.
            mig_ns = self._migrate_pass()
            sim.cpu_ns["migrator"] += mig_ns
            cost_ns += mig_ns
        sim.schedule(t + math.ceil(cost_ns / 1000) + c.scan_sleep_ms * 1000, PRIO_POLICY,
                     self._scanner)

    def _visit(self, mm) -> float:
        """Scan one mm from its cursor, whole VMAs, until scan_size is reached."""
        sim, _c, slot = self.sim, self.cfg, mm.slot
        self.visit_seq += 1
        bounds = mm.spec.vma_bounds
        nv = len(bounds) - 1
        i = slot["cursor"]
        total = 0
        nvmas = 0
        scanned = np.zeros(sim.n_nodes, dtype=np.int64)
        accessed = np.zeros(sim.n_nodes, dtype=np.int64)
        slow_accessed = 0
        queued = 0
        while True:
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            s, a, y, q = self._rule_scan_pages(lo, hi)
            scanned += s
            accessed += a
            slow_accessed += y
            queued += q
            total += (hi - lo) * self.page_bytes
            nvmas += 1
            i += 1
            if i == nv:
                i = 0
                break
            if total >= slot["scan_size"]:
                break
        slot["cursor"] = i
        ptes = int(scanned.sum())
        n_acc = int(accessed.sum())
        top = int(accessed[sim.fast_nodes].sum())
        ctr = sim.counters
        ctr["mm_scans"] += 1
        ctr["vma_scans"] += nvmas
        ctr["ptes_scanned"] += ptes
        ctr["migadded"] += queued
        ctr["toptier"] += top
        ctr["slowtier"] += n_acc - top
        ctr["idlepage"] += ptes - n_acc
        self._adapt(mm, slow_accessed, scanned)
        return ptes * sim.costs.scan_pte_ns + nvmas * sim.costs.scan_vma_ns

    def _rule_scan_pages(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Test-and-clear the A bits of pages [lo, hi); queue accessed slow-tier pages.

        Returns (scanned per node, accessed per node, slow-tier accessed, queued).
        """
        sim, c = self.sim, self.cfg
        idx = sim.test_and_clear_idx(lo, hi)
        if c.a_bit_miss > 0 and len(idx):
            missed = self.miss_rng.random(len(idx)) < c.a_bit_miss
            idx = idx[~missed]
        nodes = sim.node[lo:hi]
        acc_nodes = nodes[idx]
        scanned = sim.count_nodes(nodes)
        accessed = sim.count_nodes(acc_nodes)
        sim.referenced[lo:hi][idx] = True
        cand = idx[sim.slow_mask(acc_nodes)]
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

    def _adapt(self, mm, y: int, scanned: np.ndarray) -> None:
        """The per-mm adaptation table of kmmscand_update_mmslot_info."""
        sim, c, slot = self.sim, self.cfg, mm.slot
        period, size = slot["scan_period"], slot["scan_size"]
        if c.adapt:
            old = slot["scan_delta"]
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
            slot["scan_delta"] = total
        if c.version == "v3" and c.scan_scale != 1:
            period += period * (c.scan_scale - 1) // 9
        slot["scan_period"], slot["scan_size"] = period, size
        slot["next_scan"] = sim.t + period * 1000
        fast = sim.fast_nodes
        best = fast[np.argmax(scanned[fast])]
        slot["target"] = int(best) if scanned[best] > 0 else self._node_index(sim, c.target_node)

    # -------------------------------------------------------------- migrator
    def _migrator(self) -> None:
        sim = self.sim
        cost_ns = self._migrate_pass()
        sim.cpu_ns["migrator"] += cost_ns
        delay = math.ceil(cost_ns / 1000) + (MIGRATOR_SLEEP_MS + self.cfg.migrate_sleep_ms) * 1000
        sim.schedule(sim.t + delay, PRIO_POLICY + 1, self._migrator)

    def _budget(self) -> int | None:
        """Rate limit as a token bucket: the allowance grows at the rate (at most
        one second's worth is kept) and each promotion spends a page of it, so a
        limit below one page per pass still migrates, just not every pass."""
        rate = self.cfg.migrate_rate_limit_mbps
        t = self.sim.t
        elapsed, self.last_pass = t - self.last_pass, t
        if rate <= 0:
            return None
        per_s = rate * MIB / self.page_bytes
        self.allowance = min(self.allowance + per_s * elapsed / 1e6, max(per_s, 1.0))
        return int(self.allowance)

    def _migrate_pass(self) -> float:
        sim, c = self.sim, self.cfg
        budget = self._budget()
        m = self.queue.length if c.migrate_batch == 0 else min(c.migrate_batch, self.queue.length)
        if m == 0 or budget == 0:
            return 0.0
        entries, self._entries_unique = self.queue.peek(m)
        # Node indices fit int8 (as in Sim.node): compares stay byte-wide.
        targets = np.array([mm.slot.get("target", 0) for mm in sim.mms], dtype=np.int8)
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
        codes = [int(np.count_nonzero(reason == code)) for code in range(len(REASON_NAMES) + 1)]
        if budget is not None:
            self.allowance -= int(codes[OK])
        for code, name in REASON_NAMES.items():
            sim.counters[f"failed_{name}"] += int(codes[code])
        if codes[WATERMARK]:
            single = self._single_target(dst)
            for d in [single] if single is not None else np.unique(dst[reason == WATERMARK]):
                sim.wake_kswapd(int(d))
        if self.queued is not None:
            self.queued[entries] = False
        if c.failure_feedback:
            mm_idx = np.zeros(k, dtype=np.int64) if mm_idx is None else mm_idx[:k]
            self._feedback(mm_idx, reason == OK)
        return int(codes[OK]) * (sim.costs.migrate_page_us + sim.costs.tlb_shootdown_us) * 1000

    def _first_occurrences(self, p: np.ndarray) -> np.ndarray:
        """Positions of the first occurrence of each page, in order (O(n), no sort):
        writing positions in reverse leaves the smallest one per page."""
        if self._stamp is None:
            self._stamp = np.zeros(self.sim.n_pages, dtype=np.int64)
        pos = np.arange(len(p), dtype=np.int64)
        self._stamp[p[::-1]] = pos[::-1]
        return np.flatnonzero(self._stamp[p] == pos)

    def _single_target(self, dst: np.ndarray):
        """The one destination node when every mm targets the same node."""
        targets = {mm.slot.get("target", 0) for mm in self.sim.mms if mm.alive}
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
        src = sim.node[pages]
        reason = np.zeros(len(pages), dtype=np.int8)
        # Assigned in reverse order of the checks, so the first failing check wins.
        # dst is always fast, so src == dst implies a fast source.
        reason[~sim.slow_mask(src)] = INELIGIBLE
        reason[src == dst] = SAME_NODE
        if self.cfg.hot_check:
            reason[~sim.peek(pages)] = NOT_HOT
        ok_idx = np.flatnonzero(reason == OK)
        chosen = []
        single = self._single_target(dst)
        for d in ([single] if single is not None else sim.fast_nodes):
            cand = ok_idx if single is not None else ok_idx[dst[ok_idx] == d]
            room = max(int(sim.free[d] - sim.wmark_high[d]), 0)
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
            sim.move(pages[succ], int(single), "promote")
        else:
            for d in sim.fast_nodes:
                sim.move(pages[succ[dst[succ] == d]], int(d), "promote")
        rest = reason == OK
        rest[succ] = False
        if self._entries_unique:  # no later entry of a page moved in this pass
            reason[rest] = WATERMARK
            return reason
        r_idx = np.flatnonzero(rest)
        moved_here = sim.node[pages[r_idx]] == dst[r_idx]
        reason[r_idx[moved_here]] = SAME_NODE
        reason[r_idx[~moved_here]] = WATERMARK
        return reason

    def _feedback(self, mm_idx: np.ndarray, ok: np.ndarray) -> None:
        """V3: every 1024 migrations of an mm, lengthen scan_period by the failure ratio."""
        sim = self.sim
        n = len(sim.mms)
        att = np.bincount(mm_idx, minlength=n)
        good = np.bincount(mm_idx[ok], minlength=n)
        for i in np.flatnonzero(att):
            slot = sim.mms[i].slot
            before = slot["attempts"]
            slot["attempts"] += int(att[i])
            slot["succ"] += int(good[i])
            slot["fail"] += int(att[i] - good[i])
            if slot["attempts"] // FEEDBACK_EVERY > before // FEEDBACK_EVERY:
                slot["ok"] = (slot["ok"] >> 2) + slot["succ"]
                slot["bad"] = (slot["bad"] >> 2) + slot["fail"]
                slot["succ"] = slot["fail"] = 0
                if slot["ok"] + slot["bad"]:
                    ratio = 100 * slot["bad"] // (slot["ok"] + slot["bad"])
                    slot["scan_period"] = slot["scan_period"] * (1 + ratio // 10)
