"""NUMAB2's promotion filters in tiering mode (kernel/sched/fair.c
should_numa_migrate_memory, when the destination lacks plenty of free
memory): the hint-fault latency against the node's hot threshold,
numa_promotion_rate_limit's per-second candidate budget, and
numa_promotion_adjust_threshold moving the threshold toward the rate limit.
State per top-tier node (PromoteState); the filters are a mixin of
Numab2Policy, which sets ref_th_us, period_us and rate_limit_pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.model.engine import Sim

ADJUST_STEPS = 16      # NUMA_MIGRATION_ADJUST_STEPS
RL_WINDOW_US = 1_000_000  # numa_promotion_rate_limit's window (MSEC_PER_SEC)


@dataclass(slots=True)
class PromoteState:
    """Per top-tier node (pglist_data) state of should_numa_migrate_memory;
    times in us."""

    nr_cand: int = 0             # PGPROMOTE_CANDIDATE
    nbp_threshold: int = 0       # hot threshold, 0 = the default
    nbp_th_start: int = 0        # start of the threshold's adjustment period
    nbp_th_nr_cand: int = 0      # nr_cand at that start
    nbp_rl_start: float = -np.inf  # start of the rate limit's window
    nbp_rl_nr_cand: int = 0      # nr_cand at that start


class PromotionFilters:
    """should_numa_migrate_memory's latency threshold and rate limit, per node."""

    sim: Sim
    ref_th_us: int
    period_us: int
    rate_limit_pages: int

    def _candidates(self, st: PromoteState, ft: np.ndarray, latency: np.ndarray) -> np.ndarray:
        """Which of a node's faults (not plenty, in time order) pass the latency
        threshold and the rate limit."""
        ctr = self.sim.counters
        out = np.zeros(len(ft), dtype=bool)
        i = 0
        while i < len(ft):
            if ft[i] - st.nbp_th_start > self.period_us:
                self._adjust_threshold(st, int(ft[i]))
            later = np.flatnonzero(ft[i + 1:] - st.nbp_th_start > self.period_us)
            j = i + 1 + int(later[0]) if len(later) else len(ft)
            th = st.nbp_threshold or self.ref_th_us
            cand = i + np.flatnonzero(latency[i:j] < th)
            ctr.failed_not_candidate += (j - i) - len(cand)
            limited = self._rate_limited(st, ft[cand])
            ctr.failed_rate_limited += int(limited.sum())
            out[cand[~limited]] = True
            i = j
        return out

    def _rate_limited(self, st: PromoteState, ft: np.ndarray) -> np.ndarray:
        """numa_promotion_rate_limit for candidates in time order: each counts;
        the first one more than 1 s after the window's start starts a new
        window; a candidate is limited once rate_limit candidates counted
        since the window's start."""
        limit = self.rate_limit_pages
        out = np.zeros(len(ft), dtype=bool)
        i = 0
        while i < len(ft):
            later = np.flatnonzero(ft[i:] - st.nbp_rl_start > RL_WINDOW_US)
            r = i + int(later[0]) if len(later) else len(ft)
            cnt = st.nr_cand - st.nbp_rl_nr_cand + np.arange(1, r - i + 1)
            out[i:r] = cnt >= limit
            st.nr_cand += r - i
            if r < len(ft):
                st.nr_cand += 1
                st.nbp_rl_start = float(ft[r])
                st.nbp_rl_nr_cand = st.nr_cand
                out[r] = limit <= 0
            i = r + 1
        return out

    def _adjust_threshold(self, st: PromoteState, now: int) -> None:
        """numa_promotion_adjust_threshold: after each period, move the node's
        threshold a step toward the rate limit's candidates per period."""
        ref_th = self.ref_th_us
        ref_cand = self.rate_limit_pages * self.period_us / 1e6
        diff = st.nr_cand - st.nbp_th_nr_cand
        unit = ref_th * 2 // ADJUST_STEPS
        th = st.nbp_threshold or ref_th
        if diff > ref_cand * 11 / 10:
            th = max(th - unit, unit)
        elif diff < ref_cand * 9 / 10:
            th = min(th + unit, ref_th * 2)
        st.nbp_th_start = now
        st.nbp_th_nr_cand = st.nr_cand
        st.nbp_threshold = th
