"""Reference twin of Memory's page rules: placement, moves, kswapd's victims."""

from __future__ import annotations

import math

import numpy as np

from harness.errors import ConfigError
from harness.model.memory import PG_REFERENCED, PG_YOUNG, Memory
from harness.model.workloads import MMSpec


class ReferenceMemory(Memory):
    def count_nodes(self, nodes: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_nodes, dtype=np.int64)
        for d in nodes:
            if d >= 0:
                out[d] += 1
        return out

    def move(self, pages: np.ndarray, dst, kind: str, shootdown: bool = True,
             at_us: np.ndarray | None = None) -> None:
        """One page at a time, in list order (the engine's bookkeeping per page),
        each at its own time when given."""
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

    def _rule_kswapd_victims(self, d: int, need: int) -> np.ndarray:
        """CLOCK from node d's hand over page indices: a page of node d has its
        A bit tested and cleared; if it was accessed or carries PG_referenced
        or PG_young, it loses both and is passed over (second chance); otherwise
        it becomes a victim, once. Stop at `need` victims or after two full
        turns; the hand stays after the last page examined."""
        n = self.n_pages
        hand = int(self.kswapd_hand[d])
        victims: list[int] = []
        chosen: set[int] = set()
        examined = 0
        while len(victims) < need and examined < 2 * n:
            p = hand
            if self.node[p] == d and p not in chosen:
                young = bool(self.bits.test_and_clear_pages(np.array([p]))[0])
                if young or self.pgflags[p] & (PG_REFERENCED | PG_YOUNG):
                    self.pgflags[p] &= ~np.uint8(PG_REFERENCED | PG_YOUNG)
                else:
                    victims.append(p)
                    chosen.add(p)
            examined += 1
            hand = (hand + 1) % n
        self.kswapd_hand[d] = hand
        return np.array(victims, dtype=np.int64)
