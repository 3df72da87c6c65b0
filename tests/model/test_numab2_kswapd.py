"""NUMAB2 and kswapd as the kernel does them, on tiny hand-made runs (NUMAB2's
hint faults and promotion, kswapd's demotion), each derived by hand and run on the vectorized and on the
per-page reference model.

NUMAB2: task_numa_work's budget counts chunks with updated PTEs, its virtual
range is capped at 8x; pgdat_free_space_enough's margin; promotions go to the
faulting CPU's node. kswapd: its watermark per mode, its rmap walk's flags,
its demotions take time and CPU, chunked at the next event.

Unless a test says otherwise: counts windows of 1000 ms in which the listed
pages are accessed once (at 500 ms into the window), 3.5 s simulated, first
marking pass at 1 s then every 1 s, all CPU costs 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import from_dict
from harness.model.core import PRIO_POLICY
from harness.model.engine import Sim
from harness.model.memory import PG_IDLE, PG_REFERENCED, PG_YOUNG, SWAP_CLUSTER_MAX
from harness.model.policies import make_policy
from harness.model.reference import make_reference_sim
from tests.conftest import CONFIGS
from tests.helpers.simcfg import gb

ZERO_COSTS = dict(scan_pte_ns=0, scan_vma_ns=0, kzalloc_ns=0, migrate_page_us=0,
                  tlb_shootdown_us=0, migrate_fail_ns=0, migrate_stale_ns=0, hint_fault_us=0,
                  numab_mark_pte_ns=0, kswapd_scan_ns=0)
IMPLS = ["vectorized", "reference"]


def cfg_of(policy: dict, *, counts, fast_pages: int, slow_pages: int, page_kb: int = 4,
           vma_mb: int = 0, placement: str = "slow", platform: dict | None = None,
           costs: dict | None = None, duration_s: float = 3.5, fast_nodes: int = 1):
    nodes = [dict(id=i, tier="fast", capacity_gb=gb(fast_pages, page_kb))
             for i in range(fast_nodes)]
    nodes.append(dict(id=fast_nodes, tier="slow", capacity_gb=gb(slow_pages, page_kb)))
    plat = dict(page_size_kb=page_kb, wmark_high_pct=0.0, wmark_promo_pct=0.0, nodes=nodes)
    plat.update(platform or {})
    pol = dict(first_scan_delay_ms=1000, numab_scan_period_ms=1000)
    pol.update(policy)
    return from_dict(dict(
        seed=1, duration_s=duration_s, sample_ms=500, platform=plat,
        costs=dict(ZERO_COSTS, **(costs or {})), policy=pol,
        workload=dict(kind="counts", counts=[list(r) for r in counts], window_ms=1000,
                      placement=placement, vma_mb=vma_mb)), "tiny")


def make_sim(cfg, impl: str) -> Sim:
    return make_reference_sim(cfg) if impl == "reference" else Sim(cfg, make_policy(cfg.policy))


def assert_counters(m: dict, **want) -> None:
    got = {k: m[k] for k in want}
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


# ------------------------------------------------- task_numa_work's budget


@pytest.mark.parametrize("impl", IMPLS)
def test_budget_counts_chunks_with_updated_ptes(impl):
    """64 KiB pages (HPAGE_SIZE = 32 pages), budget 2 MB = 32 pages, four VMAs
    of 16 pages; pages 0-15 on the fast node (first touch down to its high
    watermark, 0), 16-63 slow, never accessed (no fault ever restores them).
    Pass 1 (1 s): VMA 0 updates nothing (top tier), only the virtual range
    shrinks; VMA 1 updates 16 (budget 32 -> 16); VMA 2 updates 16 (-> 0):
    out, cursor 48, 48 PTEs walked. Pass 2 (2 s): VMA 3 updates 16, the VMAs
    run out: cursor 0, 16 walked. Pass 3 (3 s): nothing left to update (all
    slow pages are PROT_NONE), 64 walked. Counting virtual range instead would
    have marked 16 pages in pass 1."""
    counts = [[0] * 64] * 4
    cfg = cfg_of(dict(kind="numab2", numab_scan_size_mb=2), counts=counts, fast_pages=16,
                 slow_pages=128, page_kb=64, vma_mb=1, placement="first_touch")
    sim = make_sim(cfg, impl)
    marked = []
    sim.after_event = lambda s: marked.append((s.t, int(s.policy.prot_none.sum())))
    m = sim.run()
    assert_counters(m, mm_scans=3, ptes_scanned=48 + 16 + 64, hint_faults=0)
    assert [k for t, k in marked if t == 1_000_000][-1] == 32
    assert list(np.flatnonzero(sim.policy.prot_none)) == list(range(16, 64))


@pytest.mark.parametrize("impl", IMPLS)
def test_virtual_range_cap_is_eight_budgets(impl):
    """64 KiB pages, budget 1 MB = 16 pages, so at most 128 pages of virtual
    range a pass; one VMA of 160 pages, 0-127 fast, 128-159 slow. Pass 1
    walks four 32-page chunks (each ends on an HPAGE boundary) with nothing to
    update and stops at the cap: cursor 128, the slow pages not reached. Pass
    2: chunk [128, 160) updates 32 PTEs, its whole length off the budget: out
    at the end, cursor 0. Pass 3 = pass 1."""
    counts = [[0] * 160] * 4
    cfg = cfg_of(dict(kind="numab2", numab_scan_size_mb=1), counts=counts, fast_pages=128,
                 slow_pages=256, page_kb=64, placement="first_touch")
    sim = make_sim(cfg, impl)
    m = sim.run()
    assert_counters(m, mm_scans=3, ptes_scanned=128 + 32 + 128)
    assert list(np.flatnonzero(sim.policy.prot_none)) == list(range(128, 160))


@pytest.mark.parametrize("impl", IMPLS)
def test_one_updated_pte_takes_the_whole_chunk(impl):
    """64 KiB pages, budget 16 pages, one VMA of 64 pages, 0-30 fast, 31-63
    slow. Pass 1: chunk [0, 32) updates page 31 only, yet takes 32 pages off
    the budget: out, cursor 32, one page marked. Pass 2: [32, 64), 32 updates,
    cursor 0. Pass 3: [0, 32) and [32, 64) update nothing (all PROT_NONE);
    the VMA ends: 64 walked."""
    counts = [[0] * 64] * 4
    cfg = cfg_of(dict(kind="numab2", numab_scan_size_mb=1), counts=counts, fast_pages=31,
                 slow_pages=128, page_kb=64, placement="first_touch")
    sim = make_sim(cfg, impl)
    after_first = {}

    def after(s):
        if s.t == 1_000_000:
            after_first["marked"] = list(np.flatnonzero(s.policy.prot_none))

    sim.after_event = after
    m = sim.run()
    assert after_first["marked"] == [31]
    assert_counters(m, mm_scans=3, ptes_scanned=32 + 32 + 64)
    assert list(np.flatnonzero(sim.policy.prot_none)) == list(range(31, 64))


# ------------------------------------------- should_numa_migrate_memory


@pytest.mark.parametrize("impl", IMPLS)
def test_free_space_margin_is_one_gb_or_a_sixteenth(impl):
    """64 KiB pages: 1 GB is 16384 pages. Fast node of 16384 + 4 pages (its
    sixteenth, 1024, is less than 1 GB), promo watermark 1: "plenty" means
    more than 1 + 16384 free, true for the first 3 faults only. Pages 0-7 are
    accessed every window; threshold 400 ms < latency 500 ms, so no fault is
    a candidate. At 1.5 s pages 0-2 are promoted at once, 3-7 fail; they are
    marked again at 2 and 3 s and fail at 2.5 and 3.5 s."""
    counts = [[1] * 8] * 4
    cfg = cfg_of(dict(kind="numab2", hot_threshold_ms=400), counts=counts,
                 fast_pages=16384 + 4, slow_pages=64, page_kb=64)
    sim = make_sim(cfg, impl)
    m = sim.run()
    assert_counters(m, hint_faults=8 + 5 + 5, promotions=3, failed_not_candidate=15)
    assert m["hit_rate"] == pytest.approx(3 * 2.0 / (8 * 3.5))
    assert int(sim.policy.enough_wmark[0]) == 1 + 16384


def test_free_space_margin_of_a_big_node_is_its_sixteenth():
    """A fast node of 32 GiB of 64 KiB pages (524288): the margin is 524288 / 16
    = 32768 pages, above 1 GB (16384); promo watermark 1% = 5243."""
    cfg = cfg_of(dict(kind="numab2"), counts=[[1] * 8], fast_pages=524288, slow_pages=64,
                 page_kb=64, platform=dict(wmark_high_pct=0.5, wmark_promo_pct=1.0))
    sim = Sim(cfg, make_policy(cfg.policy))
    sim.policy.start(sim)
    assert int(sim.mem.wmark_promo[0]) == math.ceil(524288 * 0.01)
    assert int(sim.policy.enough_wmark[0]) == math.ceil(524288 * 0.01) + 32768


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("threshold_ms,limit_mbps,want,hit", [
    # Tiny fast node (4 pages, promo 2): never "plenty" (1 GB margin). Latency
    # 500 ms (marked at s, accessed at s + 0.5).
    # Threshold 400: no candidate; each fault restores the PTE, the page is
    # marked again next pass: 4 faults at 1.5, 2.5 and 3.5 s.
    (400, 65536.0, dict(hint_faults=12, promotions=0, failed_not_candidate=12), 0.0),
    # Threshold 1000: all four candidates at 1.5 s, promoted (free 4 > high 0).
    (1000, 65536.0, dict(hint_faults=4, promotions=4, failed_not_candidate=0), 4 * 2.0),
    # 0.004 MB/s is 1 whole page a window. 1.5 s: page 0 starts a window and
    # passes, 1-3 limited. 2.5 s: exactly 1 s later, not more: same window,
    # 1-3 limited. 3.5 s: a new window, page 1 passes, 2-3 limited.
    (1000, 0.004, dict(hint_faults=10, promotions=2, failed_rate_limited=8), 2.0),
])
def test_threshold_and_rate_limit(impl, threshold_ms, limit_mbps, want, hit):
    counts = [[1, 1, 1, 1, 0, 0, 0, 0]] * 4
    cfg = cfg_of(dict(kind="numab2", hot_threshold_ms=threshold_ms,
                      promote_rate_limit_mbps=limit_mbps),
                 counts=counts, fast_pages=4, slow_pages=16, platform=dict(wmark_promo_pct=49.0))
    m = make_sim(cfg, impl).run()
    assert_counters(m, mm_scans=3, **want)
    assert m["hit_rate"] == pytest.approx(hit / 14)


@pytest.mark.parametrize("impl", IMPLS)
def test_promotions_go_to_the_faulting_cpus_node(impl):
    """Two top-tier nodes (two sockets) of 400 pages. 400 slow pages, all
    accessed at 1.5 s, fault in page order; fault i is taken on the socket
    floor(2 u_i), u_i the i-th draw of the policy's CPU stream (seed, 0x4E55),
    and its page promoted there (threshold path: latency 500 < 1000 ms)."""
    n = 400
    cfg = cfg_of(dict(kind="numab2"), counts=[[1] * n] * 4, fast_pages=n, slow_pages=2 * n,
                 fast_nodes=2, duration_s=1.8)
    sim = make_sim(cfg, impl)
    m = sim.run()
    assert_counters(m, hint_faults=n, promotions=n)
    u = np.random.default_rng([1, 0x4E55]).random(n)
    assert list(sim.mem.node) == list((u * 2).astype(np.int64))
    on0 = int((sim.mem.node == 0).sum())
    assert 160 < on0 < 240  # within 4 sigma of an even spread


def test_one_top_tier_node_takes_every_promotion():
    cfg = cfg_of(dict(kind="numab2"), counts=[[1] * 40] * 4, fast_pages=40, slow_pages=80,
                 duration_s=1.8)
    sim = Sim(cfg, make_policy(cfg.policy))
    assert sim.run()["promotions"] == 40
    assert (sim.mem.node == 0).all()


# ------------------------------------------------------------------ kswapd

KSWAPD_COSTS = dict(kswapd_scan_ns=100.0, migrate_page_us=3.0, tlb_shootdown_us=2.0)
VICTIM_NS = 100.0 + 5000.0


def _full_fast_node(policy: str, impl: str, costs: dict | None = None):
    """A fast node of 400 pages (high 40, promo 80) full of 400 never-accessed
    pages; kswapd is woken on it at 0.6 s (between samples: the sampler at
    0.5 and 1 s is an event that bounds a chunk too)."""
    cfg = cfg_of(dict(kind=policy), counts=[[0] * 400] * 4, fast_pages=400, slow_pages=1000,
                 placement="fast", platform=dict(wmark_high_pct=10.0, wmark_promo_pct=20.0),
                 costs=costs, duration_s=1.0)
    sim = make_sim(cfg, impl)
    sim.schedule(600_000, PRIO_POLICY, lambda: sim.mem.wake_kswapd(0))
    moves = []
    move = sim.mem.move

    def record(pages, dst, kind, *args, **kw):
        at = kw.get("at_us")
        moves.extend(zip(np.asarray(pages).tolist(),
                         [None] * len(pages) if at is None else np.asarray(at).tolist(),
                         strict=True))
        move(pages, dst, kind, *args, **kw)

    sim.mem.move = record
    return sim, moves


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("policy,demoted", [("none", 80), ("numab2", 120)])
def test_kswapd_balances_to_high_or_to_promo_in_tiering_mode(impl, policy, demoted):
    """Rounds of nr_to_reclaim = max(high 40, SWAP_CLUSTER_MAX 32) = 40 victims,
    balance checked before each (free > mark). Not tiering (none): 40 free is
    not above high 40, a second round: 80. Tiering (numab2): promo 80, a third
    round: 120. Nothing was ever accessed: victims in CLOCK order from page 0."""
    sim, moves = _full_fast_node(policy, impl)
    m = sim.run()
    assert_counters(m, kswapd_runs=1, demotions=demoted, kswapd_cpu_s=0.0)
    assert [p for p, _ in moves] == list(range(demoted))
    assert int(sim.mem.free[0]) == demoted


@pytest.mark.parametrize("impl", IMPLS)
def test_kswapd_demotions_take_time_and_cpu(impl):
    """Same node (none: 80 victims). Each victim costs 100 ns of scan plus 3 us
    copy and 2 us shootdown: 5.1 us. Batches of 32 victims, each round of 40
    ending with a batch of 8: victims done at +163.2, +204, +367.2, +408 us;
    80 victims end 80 x 5.1 us after the wake-up, all of it kswapd CPU (and
    part of cost_cpu_s)."""
    sim, moves = _full_fast_node("none", impl, KSWAPD_COSTS)
    m = sim.run()
    t0 = 600_000
    ends = [32, 40, 72, 80]
    want = [t0 + e * VICTIM_NS / 1000 for e in ends]
    at = [a for _, a in moves]
    for k, (lo, hi) in enumerate(zip([0] + ends[:-1], ends, strict=True)):
        assert at[lo:hi] == pytest.approx([want[k]] * (hi - lo), abs=1e-9)
    assert at[-1] == pytest.approx(t0 + 80 * VICTIM_NS / 1000)
    assert m["kswapd_cpu_s"] == pytest.approx(80 * VICTIM_NS * 1e-9)
    assert m["cost_cpu_s"] == pytest.approx(m["scanner_cpu_s"] + m["migrator_cpu_s"]
                                            + m["app_overhead_s"] + m["kswapd_cpu_s"])


@pytest.mark.parametrize("impl", IMPLS)
def test_kswapd_stops_at_the_next_event_and_resumes(impl):
    """An event at +200 us. Chunk 1 (from 600000): batch 1 ends at +163.2 us;
    batch 2 (8 victims, to +204) does not fit: resume at 600164 (ceil). Chunk
    2: nothing spent yet, so its first batch runs anyway (to 600204.8); the
    next round's batch does not fit: resume at 600205. Chunk 3 (next event
    at 1 s) finishes: 600368.2 and 600409.0."""
    sim, moves = _full_fast_node("none", impl, KSWAPD_COSTS)
    sim.schedule(600_200, PRIO_POLICY, lambda: None)
    m = sim.run()
    at = [a for _, a in moves]
    want = [(32, 600_163.2), (40, 600_204.8), (72, 600_368.2), (80, 600_409.0)]
    lo = 0
    for hi, t in want:
        assert at[lo:hi] == pytest.approx([t] * (hi - lo), abs=1e-6)
        lo = hi
    assert m["demotions"] == 80
    assert m["kswapd_cpu_s"] == pytest.approx(80 * VICTIM_NS * 1e-9)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("need,victims,hand,scanned", [(2, [5, 0], 1, 14), (3, [5, 0], 3, 16)])
def test_kswapd_clock_takes_each_victim_once(impl, need, victims, hand, scanned):
    """Node 0 holds pages 0 (PG_young) and 5; the hand is at 3. First turn: 5 is
    a victim; 0 is referenced (PG_young), passed over, gets PG_referenced.
    Second turn (from offset 8): 5 is taken already, 0 is a victim now (its
    PG_young is gone) at offset 13. Asked for 3, it stops after two full
    turns (16 steps). No flag is left."""
    cfg = cfg_of(dict(kind="none"), counts=[[0] * 8], fast_pages=8, slow_pages=16)
    sim = make_sim(cfg, impl)
    mem = sim.mem
    mem.node[:] = [0, 1, 1, 1, 1, 0, 1, 1]
    mem.pgflags[:] = [PG_YOUNG] + [0] * 7
    mem.kswapd_hand[0] = 3
    got, done, clock = mem._rule_kswapd_victims(0, need, 0.0, math.inf)
    assert list(got) == victims
    assert int(mem.kswapd_hand[0]) == hand
    assert int(mem.kswapd_scanned[0]) == scanned
    assert not mem.pgflags.any()
    assert clock == 0.0 and list(done) == [0.0, 0.0]


@pytest.mark.parametrize("impl", IMPLS)
def test_kswapd_rmap_walk_flags(impl):
    """folio_referenced on a full fast node at 2.5 s. Page 0 is hot (its A bit
    set) and idle: the A bit clears PG_idle, it is passed over with
    PG_referenced. Page 1 carries only PG_referenced: for an anonymous page
    that spares nothing, it is a victim and loses the flag. Page 2 carries
    PG_young (and PG_idle): referenced, young cleared, idle kept. Page 3 is
    a victim. PG_young and the A bit are consumed: a second call takes 0 and 2."""
    counts = np.zeros((4, 8), dtype=np.int64)
    counts[:, 0] = 50
    cfg = cfg_of(dict(kind="none"), counts=counts.tolist(), fast_pages=8, slow_pages=16,
                 placement="fast")
    sim = make_sim(cfg, impl)
    seen = {}

    def after(s):
        if s.t >= 2_500_000 and "first" not in seen:
            mem = s.mem
            mem.pgflags[:4] = [PG_IDLE, PG_REFERENCED, PG_IDLE | PG_YOUNG, 0]
            seen["first"] = list(mem._rule_kswapd_victims(0, 2, 0.0, math.inf)[0])
            seen["flags"] = [int(f) for f in mem.pgflags[:4]]
            seen["second"] = list(mem._rule_kswapd_victims(0, 2, 0.0, math.inf)[0])

    sim.after_event = after
    sim.run()
    assert seen["first"] == [1, 3]
    assert seen["flags"] == [PG_REFERENCED, 0, PG_IDLE | PG_REFERENCED, 0]
    # The hand is at 4: pages 4-7 are victims before the CLOCK comes round.
    assert seen["second"] == [4, 5]


@pytest.mark.parametrize("impl", IMPLS)
def test_kswapd_keeps_pages_accessed_since_its_last_look_without_a_scanner(impl):
    """Reclaim reads the A bits itself: under a policy that never scans, a hot
    fast-tier page (0) survives a CLOCK that takes four cold ones."""
    counts = np.zeros((4, 8), dtype=np.int64)
    counts[:, 0] = 50
    cfg = cfg_of(dict(kind="none"), counts=counts.tolist(), fast_pages=8, slow_pages=16,
                 placement="fast", duration_s=4.0)
    sim = make_sim(cfg, impl)
    seen = {}

    def after(s):
        if s.t >= 2_000_000 and "victims" not in seen:
            seen["victims"] = sorted(int(v) for v in
                                     s.mem._rule_kswapd_victims(0, 4, 0.0, math.inf)[0])

    sim.after_event = after
    sim.run()
    assert seen["victims"] == [1, 2, 3, 4]


def test_swap_cluster_max_is_the_kernels():
    assert SWAP_CLUSTER_MAX == 32


@pytest.mark.parametrize("impl", IMPLS)
def test_numa_balancing_1_marks_both_tiers_and_promotes_nothing(impl):
    """none with numa_balancing=1 on 8 pages, 4 on each tier (first-touch
    fills the fast node): every page is accessed once a window. The passes at
    1, 2 and 3 s mark every page not PROT_NONE, on either tier (normal mode);
    each marked page faults at its next access (1.5, 2.5, 3.5 s): 8 faults
    per pass, the last pass's faults at 3.5 s, in the run. 24 faults at 7 us,
    no page moves, and the policy's scan counters stay 0."""
    cfg = cfg_of(dict(kind="none", numa_balancing=1), counts=[[1] * 8] * 4, fast_pages=4,
                 slow_pages=8, placement="first_touch", costs=dict(hint_fault_us=7.0))
    sim = make_sim(cfg, impl)
    m = sim.run()
    assert_counters(m, hint_faults=24, promotions=0, demotions=0, ptes_scanned=0, mm_scans=0)
    assert m["numab_hint_fault_s"] == pytest.approx(24 * 7e-6)
    assert sim.companions[0].name == "numab1"


def test_numa_balancing_1_slows_kmmscand_down():
    """Abench's V1 run with numa_balancing=1 beside it (the RFC's published
    V1 setup): the same promotions' time plus the hint faults' stalls."""
    from harness.config import load_config

    base = ["workload.size_gb=0.25"]  # 4 s: passes from 1 s on
    off = simulate_abench(load_config(CONFIGS / "abench" / "abench-8g-kmmscand-v1.yaml",
                                      [*base, "policy.numa_balancing=0"]))
    on = simulate_abench(load_config(CONFIGS / "abench" / "abench-8g-kmmscand-v1.yaml",
                                     [*base, "policy.numa_balancing=1"]))
    assert on["hint_faults"] > 0 and off["hint_faults"] == 0
    assert on["completion_s"] > off["completion_s"]


def simulate_abench(cfg) -> dict:
    return Sim(cfg, make_policy(cfg.policy)).run()
