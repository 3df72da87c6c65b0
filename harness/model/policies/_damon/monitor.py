"""DAMON's region-based access monitor over one node's physical frames (paddr).

Sources (mm/damon/core.c, mm/damon/paddr.c, Linux 6.16-6.17):

- ``kdamond_fn``'s loop, one iteration per sampling interval: the accesses of
  the pages sampled last time are checked (``damon_pa_check_accesses``); at an
  aggregation boundary the regions are merged (``kdamond_merge_regions``);
  the schemes whose apply interval is due are applied; at the boundary the
  intervals are tuned (``kdamond_tune_intervals``, every ``aggrs``
  aggregations), ``nr_accesses`` is reset (``kdamond_reset_aggregated``) and
  the regions split (``kdamond_split_regions``); then one page per region is
  sampled and made old (``damon_pa_prepare_access_checks``).
- A sampled page's check (``damon_folio_young``): its PTE's A bit or not
  PG_idle; making it old (``damon_folio_mkold``): test and clear the A bit
  (setting PG_young if it was set) and set PG_idle. A free frame is never
  accessed (``damon_get_folio`` finds no LRU folio).

Regions are frames of the node, [lo, hi), DAMON_MIN_REGION one page; sizes in
the kernel's bytes are frames x page size, which cancels in every ratio used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from harness.model.memory import PG_IDLE, PG_YOUNG

if TYPE_CHECKING:
    from harness.model.policies._damon.frames import FrameMap

MAX_SUB = 10  # damon_rand(1, 10): the left sub-region is 1..9 tenths


@numba.njit(cache=True)
def merge_regions(lo, hi, nr, last, age, thres, sz_limit):  # pragma: no cover - compiled
    """damon_merge_regions_of over the region arrays, in place: each region's
    age is reset when its nr_accesses moved by more than thres from the last
    aggregation (or crossed zero), else incremented; a region then merges into
    its left neighbour if adjacent, within thres of its nr_accesses and the
    two fit sz_limit (damon_merge_two_regions: size-weighted means of
    nr_accesses and age). Returns the new number of regions."""
    k = -1
    for i in range(len(lo)):
        d = nr[i] - last[i]
        moved = d > thres or -d > thres or (nr[i] == 0) != (last[i] == 0)
        a = 0 if moved else age[i] + 1
        if k >= 0 and hi[k] == lo[i] and abs(nr[k] - nr[i]) <= thres and \
                (hi[k] - lo[k]) + (hi[i] - lo[i]) <= sz_limit:
            szl, szr = hi[k] - lo[k], hi[i] - lo[i]
            nr[k] = (nr[k] * szl + nr[i] * szr) // (szl + szr)
            age[k] = (age[k] * szl + a * szr) // (szl + szr)
            hi[k] = hi[i]
        else:
            k += 1
            lo[k], hi[k], nr[k], last[k], age[k] = lo[i], hi[i], nr[i], last[i], a
    return k + 1


class Monitor:
    """The monitoring half of one kdamond context (damon_ctx): its attrs,
    its regions (one target: the node's frames) and their counts."""

    def __init__(self, cfg, node: int, n_frames: int, frames: FrameMap, rng: np.random.Generator):
        self.cfg = cfg
        self.node = node
        self.frames = frames
        self.rng = rng
        self.sample_us = cfg.damon_sample_us
        self.aggr_us = cfg.damon_aggr_us
        # damon_set_attrs: aggr_samples = aggr_interval / sample_interval.
        self.aggr_samples = max(self.aggr_us // self.sample_us, 1)
        # mtier.c: one region over the node's whole range (damon_new_region).
        self.lo = np.array([0], dtype=np.int64)
        self.hi = np.array([n_frames], dtype=np.int64)
        self.nr = np.zeros(1, dtype=np.int64)    # nr_accesses this aggregation
        self.last = np.zeros(1, dtype=np.int64)  # last_nr_accesses
        self.age = np.zeros(1, dtype=np.int64)
        self.sampled = np.full(1, -1, dtype=np.int64)  # sampling_addr (frame), -1: none yet
        # damon_region_sz_limit: the regions' total over min_nr_regions, >= one page.
        self.sz_limit = max(n_frames // cfg.damon_min_nr_regions, 1)
        self.passed = 0                   # passed_sample_intervals
        self.next_aggr = self.aggr_samples  # next_aggregation_sis
        self.next_tune = self.aggr_samples * cfg.damon_intervals_goal_aggrs
        self.last_nr_regions = 0          # kdamond_split_regions' static
        self.checks = 0                   # rmap walks of sampled folios (costed)

    @property
    def n(self) -> int:
        return len(self.lo)

    @property
    def max_nr_accesses(self) -> int:
        return self.aggr_samples

    # ------------------------------------------------------------ sampling
    def check(self) -> None:
        """damon_pa_check_accesses: nr_accesses += the sampled page's check."""
        if self.sampled[0] < 0:
            return
        self.nr += self._rule_check(self.sampled)

    def _rule_check(self, frames: np.ndarray) -> np.ndarray:
        """Accessed per region: the page in the sampled frame has its A bit set
        or is not PG_idle; a free frame is not accessed."""
        pages = self.frames.pages(self.node, frames)
        mapped = pages >= 0
        out = np.zeros(len(frames), dtype=np.int64)
        p = pages[mapped]
        self.checks += len(p)
        if len(p):
            mem, bits = self.frames.mem, self.frames.bits
            out[mapped] = bits.peek(p) | ((mem.pgflags[p] & PG_IDLE) == 0)
        return out

    def prepare(self) -> None:
        """damon_pa_prepare_access_checks: a random frame of each region
        (damon_rand(start, end)), made old."""
        u = self.rng.random(self.n)
        self.sampled = self.lo + (u * (self.hi - self.lo)).astype(np.int64)
        self._rule_mkold(self.sampled)

    def _rule_mkold(self, frames: np.ndarray) -> None:
        """damon_folio_mkold on each mapped sampled page, in page order."""
        pages = self.frames.pages(self.node, frames)
        p = np.sort(pages[pages >= 0])
        self.checks += len(p)
        mkold(self.frames, p)

    # --------------------------------------------------------- aggregation
    def merge(self) -> None:
        """kdamond_merge_regions: threshold max nr_accesses / 10, doubled while
        there are more than max_nr_regions regions and it is under the
        maximum nr_accesses."""
        thres = int(self.nr.max()) // 10 if self.n else 0
        max_thres = self.max_nr_accesses
        while True:
            self._rule_merge(thres)
            thres = max(1, thres * 2)
            if not (self.n > self.cfg.damon_max_nr_regions and thres // 2 < max_thres):
                break

    def _rule_merge(self, thres: int) -> None:
        k = merge_regions(self.lo, self.hi, self.nr, self.last, self.age, int(thres),
                          int(self.sz_limit))
        self._keep(k)

    def _keep(self, k: int) -> None:
        self.lo, self.hi, self.nr = self.lo[:k].copy(), self.hi[:k].copy(), self.nr[:k].copy()
        self.last, self.age = self.last[:k].copy(), self.age[:k].copy()

    def reset(self) -> None:
        """kdamond_reset_aggregated."""
        self.last = self.nr.copy()
        self.nr = np.zeros(self.n, dtype=np.int64)

    def split(self) -> None:
        """kdamond_split_regions: nothing over max_nr_regions / 2 regions; three
        sub-regions if the count did not change since last time and is under
        max_nr_regions / 3, else two."""
        nr_regions, mx = self.n, self.cfg.damon_max_nr_regions
        if nr_regions > mx // 2:
            return
        nsub = 3 if self.last_nr_regions == nr_regions and nr_regions < mx // 3 else 2
        self._rule_split(nsub)
        self.last_nr_regions = nr_regions

    def _rule_split(self, nsub: int) -> None:
        """damon_split_regions_of: up to nsub - 1 times, while the (left)
        region is over two pages, cut it at a random 1..9 tenths (aligned
        down to a page; no empty side), the left part going on. One draw per
        possible cut of each region, in region order (the kernel draws only
        when the size allows; the distribution is the same)."""
        n = self.n
        u = self.rng.random((n, nsub - 1))
        size = self.hi - self.lo
        cuts = []
        for j in range(nsub - 1):  # at most two steps
            k = 1 + (u[:, j] * (MAX_SUB - 1)).astype(np.int64)
            sub = k * size // MAX_SUB
            ok = (size > 2) & (sub > 0) & (sub < size)
            cuts.append(np.flatnonzero(ok))
            cuts.append(self.lo[ok] + sub[ok])
            size = np.where(ok, sub, size)
        parents = np.concatenate([np.arange(n)] + cuts[0::2])
        starts = np.concatenate([self.lo] + cuts[1::2])
        order = np.argsort(starts, kind="stable")
        parents, starts = parents[order], starts[order]
        ends = np.append(starts[1:], self.hi[-1])
        # A region's end is its parent's end when it is the parent's last piece.
        last_piece = np.append(parents[1:] != parents[:-1], True)
        ends = np.where(last_piece, self.hi[parents], ends)
        self.lo, self.hi = starts, ends
        self.nr, self.last, self.age = self.nr[parents], self.last[parents], self.age[parents]

    def split_at(self, i: int, sz: int) -> None:
        """damon_split_region_at: region i becomes [lo, lo + sz) and [lo + sz, hi)."""
        ins = lambda a, v: np.insert(a, i + 1, v)  # noqa: E731
        cut = int(self.lo[i]) + sz
        self.lo = ins(self.lo, cut)
        self.hi = np.insert(self.hi, i, cut)
        self.nr, self.last, self.age = (ins(self.nr, self.nr[i]), ins(self.last, self.last[i]),
                                        ins(self.age, self.age[i]))

    # ------------------------------------------------------ intervals goal
    def tune_intervals(self) -> None:
        """kdamond_tune_intervals: the observed access events over the goal's
        share of the maximum (damon_get_intervals_score) through the feedback
        loop, rescaled below 1 to [0.5, 1] (damon_get_intervals_adaptation_bp);
        the sampling interval times that, clamped; aggregation = sampling x
        aggr_samples; damon_set_attrs rescales the regions' ages."""
        c = self.cfg
        size = self.hi - self.lo
        max_events = int((size * self.aggr_samples).sum())
        events = int((size * self.nr).sum())
        target = max_events * c.damon_intervals_goal_bp // 10000 or 1
        score_bp = events * 10000 // target
        adapt = feed_loop_next_input(100_000_000, score_bp) // 10000
        if adapt <= 10000:
            adapt = 5000 + adapt // 2
        if adapt == 10000:
            return
        new_sample = min(c.damon_max_sample_us, self.sample_us * adapt // 10000)
        new_sample = max(c.damon_min_sample_us, new_sample)
        new_aggr = new_sample * self.aggr_samples
        # damon_age_for_new_attrs: age x old aggr_interval / new aggr_interval.
        self.age = self.age * self.aggr_us // new_aggr
        self.sample_us, self.aggr_us = new_sample, new_aggr


def mkold(frames: FrameMap, pages: np.ndarray) -> None:
    """damon_folio_mkold on pages (ascending): the A bit tested and cleared
    (PG_young set if it was set), PG_idle set."""
    if len(pages) == 0:
        return
    mem = frames.mem
    young = frames.bits.test_and_clear_pages(pages)
    mem.pgflags[pages[young]] |= PG_YOUNG
    mem.pgflags[pages] |= PG_IDLE


def feed_loop_next_input(last_input: int, score: int) -> int:
    """damon_feed_loop_next_input: the next input of DAMON's feedback loop
    toward score 10000 (the goal): unchanged at the goal, the minimum (10000)
    at twice the goal or more, else moved against the error in proportion to
    it (last x |score - goal| / goal), never under the minimum."""
    goal, min_input = 10000, 10000
    if score == goal:
        return last_input
    if score >= goal * 2:
        return min_input
    over = score > goal
    diff = score - goal if over else goal - score
    compensation = last_input * diff // goal
    if over:
        return max(last_input - compensation, min_input)
    return last_input + compensation
