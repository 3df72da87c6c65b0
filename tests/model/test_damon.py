"""damon_tier: DAMON's monitor and DAMOS rules, derived by hand from
mm/damon/core.c, and the model against its per-region reference twin."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import MIB, PolicyConfig
from harness.model import Sim, simulate
from harness.model.memory import PG_IDLE
from harness.model.policies import make_policy
from harness.model.policies._damon.monitor import Monitor, feed_loop_next_input
from harness.model.policies._damon.schemes import Scheme, hot_score
from harness.model.reference._damon import ReferenceMonitor, ReferenceScheme
from tests.helpers.simcfg import small_cfg
from tests.model.test_reference import _assert_same, _both

MONITORS = [Monitor, ReferenceMonitor]
SCHEMES = [Scheme, ReferenceScheme]


class _Bits:
    """A bits stub: page p's A bit reads `hot[p]` at every check."""

    def __init__(self, hot):
        self.hot = np.asarray(hot, dtype=bool)

    def peek(self, p):
        return self.hot[p]

    def test_and_clear_pages(self, p):
        return self.hot[p]


class _Mem:
    def __init__(self, n, capacity=(1000, 4000), free=(1000, 4000)):
        self.pgflags = np.full(n, PG_IDLE, dtype=np.uint8)  # idle: only the A bit counts
        self.capacity = np.array(capacity)
        self.free = np.array(free)


class _Frames:
    """Frame f of the node holds page f."""

    def __init__(self, hot, **mem):
        self.bits = _Bits(hot)
        self.mem = _Mem(len(self.bits.hot), **mem)
        self.frame_page = [np.arange(len(self.bits.hot))]

    def pages(self, d, frames):
        return self.frame_page[d][np.asarray(frames)]


def _cfg(**kw):
    return PolicyConfig(kind="damon_tier", **kw)


def _monitor(cls, hot, bounds, seed=1, **kw):
    mon = cls(_cfg(**kw), 0, len(hot), _Frames(hot), np.random.default_rng(seed))
    mon.lo = np.array(bounds[:-1], dtype=np.int64)
    mon.hi = np.array(bounds[1:], dtype=np.int64)
    z = np.zeros(len(mon.lo), dtype=np.int64)
    mon.nr, mon.last, mon.age = z.copy(), z.copy(), z.copy()
    return mon


def _aggregate(mon):
    """One aggregation interval: aggr_samples samplings, then nr_accesses."""
    for _ in range(mon.aggr_samples):
        mon.prepare()
        mon.check()
    return mon.nr.copy()


@pytest.mark.parametrize("cls", MONITORS)
def test_nr_accesses_of_known_patterns(cls):
    """5 ms sampling, 100 ms aggregation: 20 samples. A region whose pages are
    all accessed counts 20, one never accessed 0; one sampled page per region
    each time, so a region with 3 of its 10 pages accessed counts
    Binomial(20, 0.3): mean 6, variance 4.2."""
    n_mixed = 400
    hot = np.zeros(20 + 10 * n_mixed, dtype=bool)
    hot[:10] = True
    for r in range(n_mixed):
        hot[20 + 10 * r: 20 + 10 * r + 3] = True
    mon = _monitor(cls, hot, list(range(0, 20 + 10 * n_mixed + 1, 10)))
    assert mon.aggr_samples == 20
    nr = _aggregate(mon)
    assert nr[0] == 20 and nr[1] == 0
    mixed = nr[2:]
    assert abs(mixed.mean() - 6.0) < 0.35          # 4 standard errors (0.1)
    assert abs(mixed.var() - 4.2) < 1.0
    assert mixed.min() >= 0 and mixed.max() <= 20


def test_free_frame_is_never_accessed_and_idle_clear_counts():
    """damon_get_folio finds no folio in a free frame; a page not PG_idle is
    young (damon_folio_young) even with its A bit clear, until made old."""
    fr = _Frames(np.zeros(4, dtype=bool))
    fr.frame_page[0][0] = -1
    fr.mem.pgflags[:] = 0  # newly faulted: not idle
    mon = Monitor(_cfg(), 0, 4, fr, np.random.default_rng(0))
    mon.lo, mon.hi = np.array([0, 1]), np.array([1, 4])
    mon.nr, mon.last, mon.age = (np.zeros(2, dtype=np.int64) for _ in range(3))
    mon.sampled = np.array([0, 2])
    mon.check()
    assert mon.nr.tolist() == [0, 1]    # page 2 not idle: accessed
    mon.prepare()                       # mkold sets PG_idle
    mon.check()
    assert mon.nr.tolist() == [0, 1]    # A bit clear and idle now: not accessed


@pytest.mark.parametrize("cls", MONITORS)
def test_merge_follows_damon_merge_regions_of(cls):
    """threshold = max nr_accesses / 10 = 2: [0,10) nr 5 and [10,20) nr 7
    merge (|5 - 7| <= 2) into nr (5*10 + 7*10) / 20 = 6; [20,30) nr 20 does
    not (|6 - 20| > 2); [30,40) nr 19 merges with it unless over sz_limit.
    Ages: a region whose nr moved by more than the threshold since the last
    aggregation (or crossed zero) restarts at 0, else grows by one; merged
    ages are size-weighted."""
    mon = _monitor(cls, np.zeros(40, dtype=bool), [0, 10, 20, 30, 40])
    mon.nr = np.array([5, 7, 20, 19])
    mon.last = np.array([5, 1, 20, 0])
    mon.age = np.array([4, 9, 2, 7])
    mon.sz_limit = 20
    mon.merge()
    assert mon.lo.tolist() == [0, 20] and mon.hi.tolist() == [20, 40]
    assert mon.nr.tolist() == [6, (20 * 10 + 19 * 10) // 20]
    # ages before merging: 5 (kept), 0 (|7 - 1| > 2), 3 (kept), 0 (crossed 0)
    assert mon.age.tolist() == [(5 * 10 + 0 * 10) // 20, (3 * 10 + 0 * 10) // 20]
    mon2 = _monitor(cls, np.zeros(40, dtype=bool), [0, 10, 20, 30, 40])
    mon2.nr = np.array([5, 7, 20, 19])
    mon2.last = mon2.nr.copy()
    mon2.sz_limit = 15  # no two regions fit
    mon2.merge()
    assert mon2.n == 4


@pytest.mark.parametrize("cls", MONITORS)
def test_merge_doubles_threshold_while_over_max_regions(cls):
    """kdamond_merge_regions: more than max_nr_regions regions after a pass,
    the threshold doubles (from max(1, 0)) until they fit."""
    nr = np.array([0, 3, 0, 3, 0, 3])
    mon = _monitor(cls, np.zeros(60, dtype=bool), list(range(0, 61, 10)),
                   damon_max_nr_regions=3, damon_min_nr_regions=1)
    mon.nr, mon.last = nr.copy(), nr.copy()
    mon.merge()  # threshold 0 (3 // 10), then 1, 2, 4: all merge at 4
    # chained size-weighted integer means, left to right: (0*10 + 3*10) / 20 = 1,
    # (1*20 + 0*10) / 30 = 0, (0*30 + 3*10) / 40 = 0, 0, (0*50 + 3*10) / 60 = 0
    assert mon.n == 1 and mon.nr.tolist() == [0]


@pytest.mark.parametrize("cls", MONITORS)
def test_split_follows_damon_split_regions_of(cls):
    """Two sub-regions each: a region over two pages is cut at k/10 of it
    (k in 1..9, aligned down), the pieces inheriting nr_accesses, last and
    age; a region of two pages or less stays whole."""
    mon = _monitor(cls, np.zeros(202, dtype=bool), [0, 100, 200, 202])
    mon.nr, mon.last, mon.age = np.array([4, 5, 6]), np.array([1, 2, 3]), np.array([7, 8, 9])
    mon.split()
    assert mon.n == 5 and mon.lo[0] == 0 and mon.hi[-1] == 202
    assert (mon.hi[:-1] == mon.lo[1:]).all()
    left = [int(h - lo) for lo, h in zip(mon.lo, mon.hi, strict=True)]
    assert left[0] % 10 == 0 and 10 <= left[0] <= 90 and left[0] + left[1] == 100
    assert left[2] % 10 == 0 and 10 <= left[2] <= 90 and left[4] == 2
    assert mon.nr.tolist() == [4, 4, 5, 5, 6] and mon.age.tolist() == [7, 7, 8, 8, 9]
    assert mon.last.tolist() == [1, 1, 2, 2, 3]


def test_split_counts_and_limits():
    """Three sub-regions when the count is unchanged since the last split and
    under max / 3; none over max / 2."""
    mon = _monitor(Monitor, np.zeros(1000, dtype=bool), [0, 1000], damon_max_nr_regions=30)
    mon.last_nr_regions = 1
    mon.split()
    assert mon.n == 3
    mon = _monitor(Monitor, np.zeros(1000, dtype=bool), list(range(0, 1001, 50)),
                   damon_max_nr_regions=30)
    mon.split()
    assert mon.n == 20  # 20 > 30 / 2: no split


def test_split_vectorized_equals_reference():
    bounds = [0, 3, 50, 51, 400, 1000]
    a, b = (_monitor(c, np.zeros(1000, dtype=bool), bounds, seed=5) for c in MONITORS)
    for m in (a, b):
        m.last_nr_regions = m.n
        m.split()
    assert a.lo.tolist() == b.lo.tolist() and a.hi.tolist() == b.hi.tolist()


def test_feed_loop_next_input_by_hand():
    """damon_feed_loop_next_input: input x (1 + (goal - score) / goal) under the
    goal, x (1 - (score - goal) / goal) over it (>= 10000), 10000 at twice."""
    assert feed_loop_next_input(10000, 0) == 20000
    assert feed_loop_next_input(100000, 5000) == 150000
    assert feed_loop_next_input(100000, 12000) == 80000
    assert feed_loop_next_input(100000, 10000) == 100000
    assert feed_loop_next_input(100000, 20000) == 10000
    assert feed_loop_next_input(20000, 15000) == 10000


def test_hot_score_by_hand():
    """damon_hot_score, weights 100/100, 20 samples, 100 ms aggregation: nr 20,
    age 0 -> freq 100, age subscore 32 * 100 / 32 / 2 = 50, (100 + 50) / 2 =
    75 -> 75 * 99 / 100 = 74; nr 0, age 80 (8 s, log 4) -> (0 + 28 * 100 / 32
    / 2 = 43) / 2 = 21 -> 20."""
    s = hot_score(np.array([20, 0]), np.array([0, 80]), 20, 100_000, 100, 100)
    assert s.tolist() == [74, 20]


@pytest.mark.parametrize("cls", SCHEMES)
def test_quota_goal_moves_esz_and_hot_threshold(cls):
    """migrate_hot's goal node_mem_used_bp 9970 of node 0. Under it (node 0
    half used: score 5015) the effective quota grows each quota interval and
    the score threshold (min_score) falls; over it (node 0 full: score
    10030) the quota shrinks (by 0.3% an interval) and the threshold rises. DAMON tunes esz; the
    threshold follows from the regions' score histogram."""
    n = 100
    hot = np.zeros(n * 2, dtype=bool)
    fr = _Frames(hot, free=(500, 4000))
    mon = _monitor(Monitor, hot, list(range(0, n * 2 + 1, 2)))  # 8 KiB regions
    mon.nr = np.arange(n) % 20 + 1
    sch = cls(_cfg(damon_quota_mb=0), True, 1, 0, 0, fr, 4096, mon.max_nr_accesses)
    t, esz, th = 0, [], []
    for _ in range(30):
        sch.adjust_quota(t, mon)
        esz.append(sch.esz)
        th.append(sch.min_score)
        t += 1_000_000
    assert all(b > a for a, b in zip(esz, esz[1:], strict=False))
    assert all(b <= a for a, b in zip(th, th[1:], strict=False)) and th[-1] < th[0]
    fr.mem.free[0] = 0  # node 0 full: over its target
    esz2, th2 = [], []
    for _ in range(400):  # over by 0.3%: esz shrinks 0.3% an interval
        sch.adjust_quota(t, mon)
        esz2.append(sch.esz)
        th2.append(sch.min_score)
        t += 1_000_000
    assert all(b < a for a, b in zip([esz[-1]] + esz2, esz2, strict=False))
    assert all(b >= a for a, b in zip([th[-1]] + th2, th2, strict=False)) and th2[-1] > th[-1]


def _quota_run(cls_sim, quota_mb):
    cfg = small_cfg(dict(kind="damon_tier", damon_hot_goal_bp=0, damon_cold_goal_bp=0,
                         damon_quota_mb=quota_mb, damon_young_filter=False),
                    n=2000, fast=1200, windows=8, workload=dict(placement="slow"))
    sim = cls_sim(cfg)
    seen = []

    def after(s):
        for ctx in s.policy.contexts:
            sch = ctx.scheme
            seen.append(sch.window_applied)
            assert sch.esz in (0, quota_mb * MIB)  # 0 before the first apply
            assert sch.window_applied <= sch.charged_sz <= quota_mb * MIB

    sim.after_event = after
    sim.run()
    return sim, max(seen)


def test_no_migration_beyond_space_quota_per_interval():
    """Goals off: esz = the space quota (1 MiB = 256 pages); in each quota
    interval a scheme migrates at most that (what it charges is region size,
    migrated pages included), and the quota binds."""
    sim, most = _quota_run(lambda cfg: Sim(cfg, make_policy(cfg.policy)), 1)
    assert most == 1 * MIB
    promotions_per_s = sim.counters.promotions / 8
    assert promotions_per_s <= 256


@pytest.mark.parametrize("case", ["space_quota", "time_quota", "no_filter", "goals", "fixed"])
def test_counts_identical_damon_knobs(case):
    pol = dict(kind="damon_tier", damon_hot_goal_bp=0, damon_cold_goal_bp=0)
    pol.update({"space_quota": dict(damon_quota_mb=1),
                "time_quota": dict(damon_quota_ms=1, damon_quota_mb=0),
                "no_filter": dict(damon_young_filter=False, damon_quota_mb=0),
                "goals": dict(damon_hot_goal_bp=9970, damon_cold_goal_bp=50,
                              damon_quota_reset_ms=200, damon_apply_interval_ms=200),
                "fixed": dict(damon_intervals_goal_bp=0, damon_max_nr_regions=30)}[case])
    m = _assert_same(*_both(small_cfg(pol, n=600, fast=100)))
    assert m["mm_scans"] > 0 and m["ptes_scanned"] > 0
    if case != "goals":
        assert m["promotions"] > 0


def test_goal_ramp_starts_from_one_byte():
    """With goals the effective quota starts at the feedback loop's minimum
    (10000 bp = 1 byte) and at most doubles per quota interval: no page
    moves in the first 12 s (2^12 bytes is one page)."""
    m = simulate(small_cfg(dict(kind="damon_tier"), n=600, fast=100, windows=10)).metrics
    assert m["promotions"] == 0 and m["mm_scans"] > 0
