"""Reference twin of Memory's page rules: placement, moves, kswapd's victims."""

from __future__ import annotations

import math

import numpy as np

from harness.errors import ConfigError
from harness.model.memory import PG_IDLE, PG_REFERENCED, PG_YOUNG, SWAP_CLUSTER_MAX, Memory
from harness.model.workloads import MMSpec


class ReferenceMemory(Memory):
    compiled_kswapd = False  # its _rule_kswapd_victims runs, page by page

    def count_nodes(self, nodes: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_nodes, dtype=np.int64)
        for d in nodes:
            if d >= 0:
                out[d] += 1
        return out

    def move(self, pages: np.ndarray, dst, kind: str, shootdown: bool = True,
             at_us: np.ndarray | None = None, src: int | None = None) -> None:
        """One page at a time, in list order (the engine's bookkeeping per page),
        each at its own time when given; each page's source read from its node."""
        dsts = np.broadcast_to(np.asarray(dst, dtype=np.int64), (len(pages),))
        for i, (p, d) in enumerate(zip(pages, dsts, strict=True)):
            at = None if at_us is None else np.asarray(at_us, dtype=np.float64)[i:i + 1]
            super().move(np.array([p], dtype=np.int64), int(d), kind, shootdown, at)

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

    def _rule_kswapd_victims(self, d: int, need: int, clock: float,
                             budget: float) -> tuple[np.ndarray, np.ndarray, float]:
        """CLOCK from node d's hand over page indices, one batch of up to
        SWAP_CLUSTER_MAX pages of node d at a time: walk to collect the batch
        (what folio_referenced finds: the A bit or PG_young; a page met again
        in this call is a victim if it was passed over, skipped if taken),
        ending early at the `need`-th victim; its cost is kswapd_scan_ns a page
        plus kswapd_demote_ns a victim; it runs only if it ends by `budget` or
        the chunk has spent nothing yet. Running it: an A bit is cleared (and
        PG_idle with it), PG_young and PG_referenced are cleared, a referenced
        page gets PG_referenced, the others are victims done at the batch's
        end. Stop at `need` victims, at the budget, or after two full turns in
        this run; the hand stays after the last batch."""
        n = self.n_pages
        c_scan, c_demote = self.kswapd_scan_ns, self.kswapd_demote_ns
        hand = int(self.kswapd_hand[d])
        victims: list[int] = []
        times: list[float] = []
        first_ref: dict[int, bool] = {}  # this call's first visit: passed over?
        while len(victims) < need and self.kswapd_scanned[d] < 2 * n:
            batch: list[tuple[int, bool, bool, bool]] = []  # page, A bit, referenced, again
            h, steps, got = hand, int(self.kswapd_scanned[d]), len(victims)
            while len(batch) < SWAP_CLUSTER_MAX and got < need and steps < 2 * n:
                p = h
                if self.node[p] == d:
                    if p in first_ref:
                        if first_ref[p]:  # passed over: its A bit and PG_young are clear
                            batch.append((p, False, False, True))
                            got += 1
                    else:
                        a = bool(self.bits.peek(np.array([p]))[0])
                        ref = a or bool(self.pgflags[p] & PG_YOUNG)
                        first_ref[p] = ref
                        batch.append((p, a, ref, False))
                        got += not ref
                steps += 1
                h = (h + 1) % n
            end = clock
            for _, _, ref, _ in batch:
                end += c_scan if ref else c_scan + c_demote
            if batch and clock != 0.0 and end > budget:
                break  # the batch does not fit before the next event
            for p, a, ref, _ in batch:
                flags = int(self.pgflags[p])
                if a:
                    self.bits.test_and_clear_pages(np.array([p]))
                    self.counters.kswapd_accessed += 1
                    flags &= ~PG_IDLE
                flags &= ~(PG_YOUNG | PG_REFERENCED)
                if ref:
                    flags |= PG_REFERENCED
                else:
                    victims.append(p)
                    times.append(end)
                self.pgflags[p] = flags
            clock = end
            hand = h
            self.kswapd_scanned[d] = steps
        self.kswapd_hand[d] = hand
        return np.array(victims, dtype=np.int64), np.array(times), clock
