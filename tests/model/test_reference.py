"""The per-page reference implementation and the vectorized model agree.

Counts workloads are exact, so every integer counter must be identical and
every float metric equal to rounding. Rate-form workloads draw the same random
numbers in the same order in both, so they are identical with the same seed
too; across seeds the two agree within sampling error.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from harness.config import from_dict
from harness.model import Sim, simulate
from harness.model.policies import make_policy
from harness.model.reference import ReferenceSim, make_reference_sim
from tests.conftest import parametrize_policy
from tests.helpers.simcfg import counts_matrix, gb, mismatches, small_cfg


def _both(cfg):
    vec = simulate(cfg)
    ref = simulate(cfg, reference=True)
    return vec, ref


def _assert_same(vec, ref) -> dict:
    assert mismatches(vec.metrics, ref.metrics) == {}
    for key, a in vec.timeseries.items():
        b = ref.timeseries[key]
        assert len(a) == len(b), key
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float):
                assert (math.isnan(x) and math.isnan(y)) or math.isclose(
                    x, y, rel_tol=1e-9, abs_tol=1e-12), key
            else:
                assert x == y, key
    return vec.metrics


def _compiled_kernels() -> list[tuple[object, str]]:
    """Every numba-compiled function the model's modules hold, but the random
    streams' (harness/model/draws.py: both implementations draw the same
    numbers from them by design)."""
    from numba.core.registry import CPUDispatcher

    out = []
    for name, mod in list(sys.modules.items()):
        if name.startswith("harness.model") and name != "harness.model.draws":
            for attr, v in vars(mod).items():
                if isinstance(v, CPUDispatcher) and v.py_func.__module__ != "harness.model.draws":
                    out.append((mod, attr))
    return out


@parametrize_policy()
def test_the_reference_runs_no_compiled_kernel(policy, monkeypatch):
    """The reference re-states every page-level rule in plain Python: with each
    compiled kernel replaced by one that fails, it still runs, and gives the
    same results as the vectorized model did with them; the vectorized model
    (kmmscand: scan_ptes, migrate_entries) cannot run so."""
    cfg = small_cfg(dict(kind=policy), workload=dict(placement="slow"))
    vec = simulate(cfg)
    kernels = _compiled_kernels()
    assert {attr for _, attr in kernels} >= {"scan_ptes", "migrate_entries", "relocate"}

    def no_kernel(*args, **kwargs):
        raise AssertionError("a compiled kernel ran")

    for mod, attr in kernels:
        monkeypatch.setattr(mod, attr, no_kernel)
    ref = simulate(cfg, reference=True)
    assert mismatches(vec.metrics, ref.metrics) == {}
    assert isinstance(make_reference_sim(cfg), ReferenceSim)
    if policy == "kmmscand":
        with pytest.raises(AssertionError, match="a compiled kernel ran"):
            simulate(cfg)


# damon_tier's quota goals start its effective quota at one byte (doubling at
# most each quota interval): too slow for these few seconds, so the
# differential tests run it on its space quota alone (goals: test_damon.py).
QUICK = {"damon_tier": dict(damon_hot_goal_bp=0, damon_cold_goal_bp=0)}

# Every policy, in versions v1 and v3, must do something on these traces.
GRID_ACTIVE = {
    "none": [],
    "kmmscand": ["promotions", "demotions", "failed_dest_watermark", "mm_scans"],
    "numab2": ["promotions", "demotions", "hint_faults", "failed_dest_watermark"],
    "oracle": ["promotions", "demotions", "pingpong"],
    "damon_tier": ["promotions", "demotions", "mm_scans", "ptes_scanned"],
}


@pytest.mark.parametrize("version", ["v0", "v1", "v2", "v3"])
@parametrize_policy()
def test_counts_identical_per_policy_and_version(policy, version):
    m = _assert_same(*_both(small_cfg(dict(kind=policy, version=version,
                                           **QUICK.get(policy, {})))))
    assert m["accesses"] > 0
    for key in GRID_ACTIVE.get(policy, ()):
        assert m[key] > 0, key


# kmmscand knobs: (policy overrides, small_cfg keyword overrides, counters that
# show the knob's path ran).
KMMSCAND_CASES = {
    "v0_single_thread": (dict(version="v0"), {}, ["promotions"]),
    "v1_single_thread": (dict(single_thread=True), {}, ["promotions"]),
    # A long migrator sleep: entries wait past a visit that finds their page
    # idle again, so V3's page-idle is_hot_page fails for some.
    "v3_hot_check": (dict(version="v3", migrate_sleep_ms=2000), {},
                     ["failed_not_hot", "promotions"]),
    # V2 as posted: the OR test, accessed top-tier pages left not idle, the
    # LRU form of is_hot_page (passes), the target by nr_scanned.
    "v2_as_posted": (dict(version="v2", migrate_sleep_ms=2000),
                     dict(fast_nodes=2, fast=30, workload=dict(processes=2)),
                     ["promotions", "toptier", "demotions"]),
    # V3's target node by nr_accessed over two top-tier nodes: node 0 (12
    # pages) holds pages 0-10, ten of them hot; node 1 (32) pages 11-40, one
    # hot: nr_scanned would pick node 1, nr_accessed picks node 0 (and its
    # kswapd runs: the small node fills).
    "v3_target_nr_accessed": (dict(version="v3"), dict(
        platform=dict(nodes=[dict(id=0, tier="fast", capacity_gb=gb(12)),
                             dict(id=1, tier="fast", capacity_gb=gb(32)),
                             dict(id=2, tier="slow", capacity_gb=gb(240))]),
        workload=dict(counts=[[1] * 10 + [0] * 30 + [1] * 80] * 6)),
        ["promotions", "toptier", "kswapd_runs"]),
    # mms_to_scan iterations going round three mms (5 a wake): walks (500 us
    # a PTE, 40 ms a visit) longer than half the 50 ms scan_period, so an mm's
    # next_scan passes during the wake and it is scanned again in it (135
    # scans in 6 s; 129 with mms_to_scan 3).
    "mms_to_scan_rounds": (dict(scan_period_ms=50, scan_period_min_ms=50, adapt=False,
                                mms_to_scan=5),
                           dict(costs=dict(scan_pte_ns=500_000),
                                workload=dict(placement="slow", processes=3)),
                           ["promotions", "mm_scans"]),
    "dedup_batch_v3": (dict(version="v3", dedup=True, migrate_batch=2), {},
                       ["failed_not_hot", "promotions"]),
    "dedup_batch_v1": (dict(dedup=True, migrate_batch=2), dict(workload=dict(placement="slow")),
                       ["promotions"]),
    "batch": (dict(migrate_batch=4), {}, ["promotions", "pingpong"]),
    "rate_limit": (dict(migrate_rate_limit_mbps=0.15), dict(workload=dict(placement="slow")),
                   ["promotions", "failed_ineligible_src"]),
    "a_bit_miss": (dict(a_bit_miss=0.4), {}, ["promotions"]),
    "no_adapt": (dict(adapt=False, scan_period_ms=800), {}, ["promotions"]),
    "split_placement": (dict(version="v3"), dict(workload=dict(placement="split",
                                                               split_fast_share=0.3)),
                        ["promotions"]),
    "fast_placement": (dict(), dict(workload=dict(placement="fast")), ["demotions"]),
    "no_kswapd": (dict(), dict(platform=dict(kswapd=False)), ["failed_dest_watermark"]),
    "two_fast_nodes": (dict(), dict(fast_nodes=2, fast=30, workload=dict(processes=2)),
                       ["promotions", "demotions"]),
    "tiny_fast_node": (dict(version="v3", hot_check=False), dict(fast=2), ["demotions"]),
    # Passes cut into chunks by a sample every ms (the migration thread's time).
    "chunked_passes": (dict(), dict(sample_ms=1, workload=dict(placement="slow")),
                       ["promotions", "failed_dest_watermark"]),
    "chunked_v0": (dict(version="v0"), dict(sample_ms=1, workload=dict(placement="slow")),
                   ["promotions"]),
    # A slow migrator and fast rescans: pages queued twice, later entries stale.
    # (list_slab off: the entries' slab pages would fill the fast node first.)
    "duplicates_stale": (dict(scan_period_ms=100, scan_period_min_ms=50, migrate_sleep_ms=2000,
                              list_slab=False),
                         dict(workload=dict(placement="slow")), ["migrate_stale", "promotions"]),
    # V3's accessed test (prev_idle) on V1's other mechanics.
    "v1_second_access": (dict(second_access=True), {}, ["promotions", "slowtier"]),
    # Visits that take long (200 us a PTE, 50 us an entry) over three mms a
    # wake: entries visible only at the end of each VMA's walk.
    "slow_walks": (dict(), dict(costs=dict(scan_pte_ns=200_000, kzalloc_ns=50_000),
                                workload=dict(placement="slow", processes=3)),
                   ["promotions", "failed_dest_watermark"]),
    # The list's slab on a full platform: node 0 under LOW, entries fall back
    # to the slow node, and GFP_NOWAIT fails once every node is under MIN.
    "slab_fallback_and_failure": (dict(scan_period_ms=100, scan_period_min_ms=50,
                                       migrate_sleep_ms=2000),
                                  dict(fast=2, slow=240, platform=dict(wmark_min_pct=5.0),
                                       workload=dict(placement="slow")),
                                  ["migadded", "kzalloc_failed"]),
    # Fallback only: node 0 of 3 pages fills with promotions and slab pages.
    "slab_fallback_v3": (dict(version="v3", hot_check=False), dict(fast=3),
                         ["migadded", "promotions"]),
    # NUMA balancing's normal mode beside it: marking and hint faults, both tiers.
    "numa_balancing_1": (dict(numa_balancing=1), dict(workload=dict(processes=2)),
                         ["promotions", "hint_faults"]),
}


def test_counts_identical_none_with_numa_balancing_1():
    m = _assert_same(*_both(small_cfg(dict(kind="none", numa_balancing=1))))
    assert m["hint_faults"] > 0 and m["promotions"] == 0


@pytest.mark.parametrize("case", sorted(KMMSCAND_CASES))
def test_counts_identical_kmmscand_knobs(case):
    pol, kw, active = KMMSCAND_CASES[case]
    m = _assert_same(*_both(small_cfg(dict(kind="kmmscand", **pol), **kw)))
    for key in active:
        assert m[key] > 0, key


NUMAB2_CASES = {
    "rate_limit": (dict(promote_rate_limit_mbps=0.05), {}, ["failed_rate_limited"]),
    "threshold": (dict(hot_threshold_ms=150), {}, ["failed_not_candidate"]),
    "slow_placement": (dict(), dict(workload=dict(placement="slow")), ["promotions"]),
    # Faults promote to the faulting CPU's node (one draw per fault); kswapd per node.
    "two_fast_nodes": (dict(), dict(fast_nodes=2, fast=30, workload=dict(processes=2)),
                       ["promotions", "demotions", "failed_dest_watermark"]),
    # Per-node threshold adjusted every 1 s, moving with the rate limit's candidates.
    "threshold_adjust": (dict(threshold_adjust_s=1.0, promote_rate_limit_mbps=0.05,
                              hot_threshold_ms=300), {},
                         ["failed_rate_limited", "failed_not_candidate", "promotions"]),
    # kswapd chunks cut short by the next event (slow per-page scan).
    "slow_kswapd": (dict(), dict(costs=dict(kswapd_scan_ns=20000.0, migrate_page_us=50.0)),
                    ["demotions", "kswapd_cpu_s", "kswapd_accessed"]),
}


@pytest.mark.parametrize("case", sorted(NUMAB2_CASES))
def test_counts_identical_numab2_knobs(case):
    pol, kw, active = NUMAB2_CASES[case]
    m = _assert_same(*_both(small_cfg(dict(kind="numab2", **pol), **kw)))
    for key in active:
        assert m[key] > 0, key


def test_counts_identical_oracle_two_fast_nodes():
    m = _assert_same(*_both(small_cfg(dict(kind="oracle"), fast_nodes=2, fast=30)))
    assert m["promotions"] > 0


@parametrize_policy(exclude=("none",))
def test_counts_identical_processes_start_exit_npy(tmp_path, policy):
    """Three processes in two workload entries (one read from a .npy file), the
    second entry starting late and exiting early."""
    counts = counts_matrix(7, 240, 6)
    path = tmp_path / "late.npy"
    np.save(path, counts[:, 160:])
    workloads = [
        dict(kind="counts", counts=counts[:, :160].tolist(), processes=2,
             placement="first_touch", vma_mb=0),
        dict(kind="counts", path=str(path), start_s=1.5, exit_s=4.5, placement="slow",
             vma_mb=0),
    ]
    pol = dict(kind=policy, migrate_batch=2) if policy == "kmmscand" else dict(kind=policy)
    pol.update(QUICK.get(policy, {}))
    m = _assert_same(*_both(small_cfg(pol, workloads=workloads)))
    assert m["promotions"] > 0
    if policy == "kmmscand":
        assert m["migrate_dropped"] > 0  # the exiting mm's queued entries


# ----------------------------------------------------------------- rate form


def _rate_cfg(kind: str, policy: str, seed: int, n: int = 300):
    return from_dict(dict(
        seed=seed, duration_s=8, sample_ms=500,
        platform=dict(nodes=[dict(id=0, tier="fast", capacity_gb=gb(60)),
                             dict(id=1, tier="slow", capacity_gb=gb(2 * n))]),
        workload=dict(kind=kind, size_gb=gb(n), access_rate=3000, placement="first_touch",
                      move_every_s=3, vma_mb=0),
        policy=dict(kind=policy, first_scan_delay_ms=200, scan_period_ms=600,
                    scan_change_scale=8, numab_scan_period_ms=400, **QUICK.get(policy, {}),
                    **({"list_slab": False} if policy == "kmmscand" else {}))),
        "test")


@parametrize_policy(exclude=("none",))
@pytest.mark.parametrize("kind", ["zipf", "hotset"])
def test_rate_form_identical_with_same_seed(kind, policy):
    m = _assert_same(*_both(_rate_cfg(kind, policy, seed=3)))
    assert m["promotions"] > 0


@pytest.mark.parametrize("policy", ["kmmscand", "numab2"])
def test_rate_form_hit_rate_within_sampling_error(policy):
    """Independent seeds for the two implementations: the mean hit rates differ
    by no more than sampling error (4 standard errors of the difference)."""
    seeds = range(1, 7)
    vec = np.array([simulate(_rate_cfg("hotset", policy, s)).metrics["hit_rate"]
                    for s in seeds])
    ref = np.array([simulate(_rate_cfg("hotset", policy, s + 100), reference=True)
                    .metrics["hit_rate"] for s in seeds])
    se = math.sqrt(vec.var(ddof=1) / len(vec) + ref.var(ddof=1) / len(ref))
    assert se > 0  # the seeds do change the runs
    assert abs(vec.mean() - ref.mean()) <= 4 * se


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_rate_form_identical_with_two_workloads_and_kswapd(version):
    """Two Poisson workloads (two segments, each its own generator), all first
    on slow with a small fast node: kswapd's walk reads both segments' A bits
    from the joint array and clears them through each segment's generator."""
    n = 200
    cfg = from_dict(dict(
        seed=5, duration_s=8, sample_ms=500,
        platform=dict(wmark_high_pct=5.0, wmark_promo_pct=6.0,
                      nodes=[dict(id=0, tier="fast", capacity_gb=gb(60)),
                             dict(id=1, tier="slow", capacity_gb=gb(4 * n))]),
        workloads=[dict(kind="zipf", size_gb=gb(n), access_rate=3000, placement="slow",
                        vma_mb=0),
                   dict(kind="hotset", size_gb=gb(n), access_rate=3000, placement="slow",
                        move_every_s=3, vma_mb=0, seed_offset=1)],
        # list_slab off: the entries' slab pages would hold the small fast node.
        policy=dict(kind="kmmscand", version=version, first_scan_delay_ms=200,
                    scan_period_ms=600, scan_change_scale=8, list_slab=False)), "test")
    m = _assert_same(*_both(cfg))
    assert m["promotions"] > 0 and m["demotions"] > 0 and m["kswapd_runs"] > 0


@pytest.mark.parametrize("policy", ["kmmscand", "numab2"])
def test_rate_form_identical_with_two_slow_nodes_and_kswapd(policy):
    """One Poisson segment (kswapd's chunk is one compiled call there), all
    first on slow, two slow nodes whose free pages cross: each round demotes
    to the slow node with the most free pages, as the reference's rounds do,
    under both kswapd watermarks (HIGH; PROMO with numab2)."""
    n = 300
    cfg = from_dict(dict(
        seed=7, duration_s=8, sample_ms=500,
        platform=dict(wmark_high_pct=5.0, wmark_promo_pct=8.0,
                      nodes=[dict(id=0, tier="fast", capacity_gb=gb(60)),
                             dict(id=1, tier="slow", capacity_gb=gb(350)),
                             dict(id=2, tier="slow", capacity_gb=gb(110))]),
        workload=dict(kind="zipf", size_gb=gb(n), access_rate=3000, placement="slow",
                      vma_mb=0),
        policy=dict(kind=policy, first_scan_delay_ms=200, scan_period_ms=600,
                    scan_change_scale=8, numab_scan_period_ms=400, **QUICK.get(policy, {}),
                    **({"list_slab": False} if policy == "kmmscand" else {}))),
        "test")
    m = _assert_same(*_both(cfg))
    assert m["demotions"] > 0 and m["kswapd_runs"] > 0
    # Which slow node took a page shows in no metric: compare the placements.
    vec, ref = Sim(cfg, make_policy(cfg.policy)), make_reference_sim(cfg)
    dests = set()
    move = ref.mem.move

    def spy(pages, dst, kind, *args, **kwargs):
        if kind == "demote":
            dests.add(int(dst))
        move(pages, dst, kind, *args, **kwargs)

    ref.mem.move = spy
    vec.run()
    ref.run()
    assert dests == {1, 2}  # both slow nodes took demotions
    assert np.array_equal(vec.mem.node, ref.mem.node)
    assert np.array_equal(vec.mem.free, ref.mem.free)
