"""DAMOS schemes migrate_hot / migrate_cold: access pattern, quotas, quota
goals, priorities, the young filter and the migration itself.

Sources (mm/damon/core.c, mm/damon/ops-common.c, mm/damon/paddr.c):

- ``damos_adjust_quota``: when the quota's reset interval has passed, a new
  charge window starts and ``damos_set_effective_quota`` sets the effective
  size quota ``esz``: with goals, ``esz_bp`` goes through
  ``damon_feed_loop_next_input(max(esz_bp, 10000), score)`` where the score is
  ``current_value x 10000 / target_value`` of the goal (``node_mem_used_bp`` /
  ``node_mem_free_bp`` of the goal's node, ``damos_get_node_mem_bp``); a time
  quota caps it at the measured throughput x ms; the space quota caps it.
  Then the regions that match the pattern fill a histogram of their scores
  (``damon_hot_score``; ``damon_cold_score`` = 99 - it) weighted by size, and
  ``min_score`` is the highest score down to which the regions fill ``esz``.
  So what the goal tunes is ``esz``; the score threshold follows from it:
  a smaller quota means a higher threshold.
- ``damon_do_apply_schemes`` / ``damos_apply_scheme``: in address order, a
  region is skipped once the quota is full, while it is before where the
  last full window stopped (``damos_skip_charged_region``), when it does not
  match the pattern (``__damos_valid_target``) or scores under ``min_score``;
  one that would overflow the quota is split to the rest (aligned down to a
  page; nothing if that is 0). The action's time and the region's size are
  charged; its age is reset.
- ``damon_pa_migrate``: each folio of the region through the filters
  (``damos_pa_filter_out``; YOUNG: ``damon_folio_young``, made old when
  young), then migrated to the target node (``damon_migrate_pages``), which
  fails when that node has no free page above its high watermark (and
  wakes its kswapd).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.config import MIB
from harness.model.memory import PG_IDLE
from harness.model.policies._damon.monitor import feed_loop_next_input, mkold

if TYPE_CHECKING:
    from harness.model.policies._damon.frames import FrameMap
    from harness.model.policies._damon.monitor import Monitor

DAMOS_MAX_SCORE = 99
DAMON_MAX_SUBSCORE = 100
DAMON_MAX_AGE_IN_LOG = 32
ULONG_MAX = (1 << 64) - 1


def hot_score(nr: np.ndarray, age: np.ndarray, max_nr: int, aggr_us: int, w_freq: int,
              w_age: int) -> np.ndarray:
    """damon_hot_score per region: frequency and log2-age subscores (age
    counting as coldness when the frequency is 0), weighted, in [0, 99]."""
    freq = nr * DAMON_MAX_SUBSCORE // max_nr
    age_s = age * aggr_us // 1_000_000
    age_log = np.minimum(np.frexp(age_s.astype(np.float64))[1], DAMON_MAX_AGE_IN_LOG)
    age_log = np.where(freq == 0, -age_log, age_log) + DAMON_MAX_AGE_IN_LOG
    age_sub = age_log * DAMON_MAX_SUBSCORE // DAMON_MAX_AGE_IN_LOG // 2
    hot = w_freq * freq + w_age * age_sub
    if w_freq + w_age:
        hot = hot // (w_freq + w_age)
    return hot * DAMOS_MAX_SCORE // DAMON_MAX_SUBSCORE


class Scheme:
    """One DAMOS scheme of a context: migrate_hot (to the fast node) or
    migrate_cold (to the slow node)."""

    def __init__(self, cfg, hot: bool, src: int, dest: int, goal_node: int, frames: FrameMap,
                 page_bytes: int, max_nr: int):
        self.cfg, self.hot, self.src, self.dest, self.goal_node = cfg, hot, src, dest, goal_node
        self.frames, self.page_bytes = frames, page_bytes
        # Access pattern in nr_accesses (damo: percent of the aggregation's samples).
        if hot:
            self.min_nr, self.max_nr = int(cfg.damon_hot_min_pct * max_nr // 100), ULONG_MAX
        else:
            self.min_nr, self.max_nr = 0, int(cfg.damon_cold_max_pct * max_nr // 100)
        self.sz = cfg.damon_quota_mb * MIB
        self.ms = cfg.damon_quota_ms
        self.goal_bp = cfg.damon_hot_goal_bp if hot else cfg.damon_cold_goal_bp
        self.esz_bp = 0
        self.esz = 0
        self.charged_sz = 0
        self.charged_from: int | None = None  # us
        self.total_charged_sz = 0
        self.total_charged_ns = 0
        self.min_score = 0
        self.charge_addr_from: int | None = None  # bytes; charge_target_from set
        self.next_apply = 0  # next_apply_sis
        self.applied_bytes = 0  # migrated, for the tests and docs
        self.window_applied = 0  # migrated in this charge window

    # ----------------------------------------------------------- quotas
    def goal_score(self) -> int:
        """damos_quota_score: current x 10000 / target of the goal (bp)."""
        mem, d = self.frames.mem, self.goal_node
        total = int(mem.capacity[d])
        free = int(mem.free[d])
        current = (free if not self.hot else total - free) * 10000 // total
        return current * 10000 // self.goal_bp

    def set_effective_quota(self) -> None:
        """damos_set_effective_quota."""
        if not self.ms and not self.goal_bp:
            self.esz = self.sz
            return
        esz = ULONG_MAX
        if self.goal_bp:
            self.esz_bp = feed_loop_next_input(max(self.esz_bp, 10000), self.goal_score())
            esz = self.esz_bp // 10000
        if self.ms:
            if self.total_charged_ns:
                throughput = self.total_charged_sz * 1_000_000 // self.total_charged_ns
            else:
                throughput = self.page_bytes * 1024
            esz = min(throughput * self.ms, esz)
        if self.sz and self.sz < esz:
            esz = self.sz
        self.esz = esz

    def adjust_quota(self, t_us: int, mon: Monitor) -> None:
        """damos_adjust_quota at the scheme's apply time t_us."""
        if not self.ms and not self.sz and not self.goal_bp:
            return
        if not self.total_charged_sz and self.charged_from is None:
            self.charged_from = t_us
            self.set_effective_quota()
        if t_us >= self.charged_from + self.cfg.damon_quota_reset_ms * 1000:
            self.total_charged_sz += self.charged_sz
            self.charged_from = t_us
            self.charged_sz = 0
            self.window_applied = 0
            self.set_effective_quota()
        valid, scores = self.valid(mon), self.scores(mon)
        self.min_score = self._rule_min_score(valid, scores, (mon.hi - mon.lo) * self.page_bytes)

    def valid(self, mon: Monitor) -> np.ndarray:
        """__damos_valid_target: size (>= one page) and nr_accesses in the pattern."""
        return (mon.nr >= self.min_nr) & (mon.nr <= self.max_nr) & (mon.hi > mon.lo)

    def scores(self, mon: Monitor) -> np.ndarray:
        c = self.cfg
        hot = hot_score(mon.nr, mon.age, mon.max_nr_accesses, mon.aggr_us,
                        c.damon_weight_nr_accesses, c.damon_weight_age)
        return hot if self.hot else DAMOS_MAX_SCORE - hot

    def _rule_min_score(self, valid: np.ndarray, scores: np.ndarray, sizes: np.ndarray) -> int:
        """The score down to which the matching regions' sizes, from the
        highest score, reach esz (0 if they never do)."""
        if not valid.any():
            return 0
        hist = np.bincount(scores[valid], weights=sizes[valid], minlength=DAMOS_MAX_SCORE + 1)
        top = int(scores[valid].max())
        cum = np.cumsum(hist[top::-1])  # from the top score down
        reach = np.flatnonzero(cum >= self.esz)
        return top - int(reach[0]) if len(reach) else 0

    # ------------------------------------------------------------ apply
    def quota_full(self) -> bool:
        return bool(self.esz) and self.charged_sz >= self.esz

    def _charge(self, mon: Monitor, i: int, sz: int, cost_ns: int) -> None:
        """Charge region i's applied size and time; reset its age."""
        self.total_charged_ns += cost_ns
        self.charged_sz += sz
        if self.quota_full():
            self.charge_addr_from = int(mon.hi[i]) * self.page_bytes + 1
        mon.age[i] = 0

    def apply(self, mon: Monitor) -> tuple[int, int]:
        """Apply the scheme to the context's regions; returns (pages the young
        filter tested, cost of the migrations in ns)."""
        return self._rule_apply(mon)

    def _start_region(self, mon: Monitor) -> int:
        """damos_skip_charged_region for the walk: the first region to look at
        (mon.n: none), splitting the one the last window stopped in."""
        if self.charge_addr_from is None:
            return 0
        pb, addr = self.page_bytes, self.charge_addr_from
        j = int(np.searchsorted(mon.hi * pb, addr, side="right"))  # first with end > addr
        if j >= mon.n - 1:
            self.charge_addr_from = None  # the last region resets it, skipped
            return mon.n
        start = int(mon.lo[j]) * pb
        if start < addr:
            skip = (addr - start) // pb
            if not skip:
                if mon.hi[j] - mon.lo[j] <= 1:  # skipped; the next region resets it
                    self.charge_addr_from = None
                    return mon.n if j + 1 >= mon.n - 1 else j + 1
                skip = 1
            mon.split_at(j, skip)
            j += 1
        self.charge_addr_from = None
        return j

    def _rule_apply(self, mon: Monitor) -> tuple[int, int]:
        """The walk over the regions, vectorized: the regions that pass, their
        sizes charged in address order up to esz, the last one split to the
        rest; then their pages through the filter and the migration, in frame
        order, while the destination has room."""
        pb = self.page_bytes
        if self.quota_full():
            return 0, 0
        j = self._start_region(mon)
        if j >= mon.n:
            return 0, 0
        ok = self.valid(mon)
        if self.esz:
            ok &= self.scores(mon) >= self.min_score
        idx = j + np.flatnonzero(ok[j:])
        size = (mon.hi[idx] - mon.lo[idx]) * pb
        take = size.copy()
        if self.esz:
            cum = self.charged_sz + np.cumsum(size)
            over = np.flatnonzero(cum > self.esz)
            if len(over):
                k = int(over[0])
                before = int(cum[k - 1]) if k else self.charged_sz
                rest = (self.esz - before) // pb * pb  # ALIGN_DOWN to DAMON_MIN_REGION
                idx, take = idx[:k + 1], take[:k + 1]
                take[k] = rest
                if rest == 0:
                    idx, take = idx[:k], take[:k]
                elif rest < size[k]:
                    mon.split_at(int(idx[k]), rest // pb)
        if len(idx) == 0:
            return 0, 0
        count = take // pb
        region_of = np.repeat(np.arange(len(idx)), count)
        first = np.cumsum(count) - count  # each region's first position in frames
        frames = np.arange(int(count.sum())) - first[region_of] + mon.lo[idx][region_of]
        tested, cost, per_region = self._migrate(frames, region_of, len(idx))
        for n, (i, s) in enumerate(zip(idx.tolist(), take.tolist(), strict=True)):
            self._charge(mon, i, int(s), int(per_region[n]))
        return tested, cost

    def _migrate(self, frames: np.ndarray, region_of: np.ndarray,
                 n_regions: int) -> tuple[int, int, np.ndarray]:
        """damon_pa_migrate over frames (in order): mapped pages through the
        young filter, the allowed ones migrated while the destination has a
        free page above its high watermark. Returns the pages tested, the
        migrations' ns and each region's ns (charged to its quota)."""
        fr = self.frames
        mem, costs = fr.mem, fr.sim.costs
        pages = fr.pages(self.src, frames)
        mapped = pages >= 0
        pages, region_of = pages[mapped], region_of[mapped]
        tested = 0
        if self.cfg.damon_young_filter and len(pages):
            order = np.argsort(pages, kind="stable")
            young = np.empty(len(pages), dtype=bool)
            p = pages[order]
            young[order] = fr.bits.peek(p) | ((mem.pgflags[p] & PG_IDLE) == 0)
            mkold(fr, np.sort(pages[young]))  # after the walk, in page order
            tested = len(pages)
            allow = young if self.hot else ~young
            pages, region_of = pages[allow], region_of[allow]
        room = max(int(mem.free[self.dest]) - int(mem.wmark_high[self.dest]), 0)
        go, fail = pages[:room], pages[room:]
        ok_ns, fail_ns = round(costs.page_move_ns), round(costs.migrate_fail_ns)
        per_region = (np.bincount(region_of[:room], minlength=n_regions) * ok_ns
                      + np.bincount(region_of[room:], minlength=n_regions) * fail_ns)
        if len(fail):
            fr.sim.counters.failed_dest_watermark += len(fail)
            mem.wake_kswapd(self.dest)
        if len(go):
            mem.move(go, self.dest, "promote" if self.hot else "demote")
            self.applied_bytes += len(go) * self.page_bytes
            self.window_applied += len(go) * self.page_bytes
            fr.dirty = True
        return tested, len(go) * ok_ns + len(fail) * fail_ns, per_region
