"""The scanner's per-page kernel state and its visit timing, derived by hand
from hot_vma_idle_pte_entry (docs/MODEL.md, "Scanner thread").

The scanner is driven directly: its thread is off, and events of the run call
one wake-up of it at the visit times, so that phases and accesses run as usual. Pages
are 4 KiB, one VMA, one process; the counts trace has windows of 1000 ms and
a page accessed in window k is accessed at k + 0.5 s, so a visit at k + 1 s
finds the A bits of window k. All costs are 0 unless a test says otherwise.
Every test runs the vectorized and the per-page reference scanner.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest

from harness.config import from_dict
from harness.model.core import PRIO_POLICY
from harness.model.engine import Sim
from harness.model.memory import PG_IDLE, PG_REFERENCED, PG_YOUNG
from harness.model.policies import make_policy
from harness.model.reference import make_reference_sim
from tests.helpers.simcfg import gb

IMPLS = ["vectorized", "reference"]
ZERO_COSTS = dict(scan_pte_ns=0, scan_vma_ns=0, kzalloc_ns=0, migrate_page_us=0,
                  tlb_shootdown_us=0, hint_fault_us=0, numab_mark_pte_ns=0, kswapd_scan_ns=0)


def make_cfg(counts, *, version: str = "v1", fast_pages: int = 8, placement: str = "slow",
             page_kb: int = 4, vma_mb: int = 0, costs: dict | None = None):
    n = len(counts[0])
    return from_dict(dict(
        seed=1, duration_s=float(len(counts)), costs={**ZERO_COSTS, **(costs or {})},
        policy=dict(kind="kmmscand", version=version, first_scan_delay_ms=1000,
                    scan_period_ms=1000, adapt=False),
        platform=dict(page_size_kb=page_kb, wmark_high_pct=0.0, wmark_promo_pct=0.0, nodes=[
            dict(id=0, tier="fast", capacity_gb=gb(fast_pages, page_kb)),
            dict(id=1, tier="slow", capacity_gb=gb(4 * n, page_kb))]),
        workload=dict(kind="counts", counts=[list(r) for r in counts], window_ms=1000,
                      placement=placement, vma_mb=vma_mb)), "scanner")


def new_sim(impl: str, cfg) -> Sim:
    return make_reference_sim(cfg) if impl == "reference" else Sim(cfg, make_policy(cfg.policy))


def make_sim(impl: str, counts, **kw) -> Sim:
    """A Sim whose scanner thread is off (scan_enabled false): tests call the
    scanner themselves, from events, so that phases and accesses run as usual."""
    cfg = make_cfg(counts, **kw)
    cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, scan_enabled=False))
    return new_sim(impl, cfg)


def run_with(sim: Sim, events: list[tuple[float, Callable[[], object]]]) -> list:
    """Run the Sim with fn called at each (t_s, fn) (scanner priority); returns
    what each call returned, in order."""
    out: list = []
    for t_s, fn in events:
        sim.schedule(int(round(t_s * 1e6)), PRIO_POLICY, lambda fn=fn: out.append(fn()))
    sim.run()
    return out


def visit(sim: Sim) -> list[int]:
    """One scanner wake-up now (the mm made due); returns the pages it queued, taking
    them off the list (so the migration thread never sees them)."""
    slot = sim.policy.slots[0]
    slot.next_scan = min(slot.next_scan, sim.t)
    sim.policy.scanner.wake()
    q = sim.policy.queue
    pages = [int(p) for p in q.peek(q.length)[0]]
    q.consume(q.length)
    return pages


def visits(sim: Sim, times) -> list[list[int]]:
    return run_with(sim, [(t, lambda: visit(sim)) for t in times])


@pytest.mark.parametrize("impl", IMPLS)
def test_newly_faulted_pages_start_not_idle_and_flags_clear_on_exit(impl):
    sim = make_sim(impl, [[1, 0, 0, 0]] * 2)
    flags = lambda: [int(f) for f in sim.mem.pgflags]  # noqa: E731
    got = run_with(sim, [(0.5, flags), (1.0, lambda: visit(sim)), (1.1, flags)])
    assert got == [[0] * 4, [0, 1, 2, 3], [PG_IDLE | PG_YOUNG, PG_IDLE, PG_IDLE, PG_IDLE]]
    sim._mm_exit(sim.mms[0])
    assert not sim.mem.pgflags.any()


@pytest.mark.parametrize("impl", IMPLS)
def test_first_visit_of_a_v1_mm_queues_every_present_slow_page(impl):
    """No page is ever accessed. Pages 0-3 are on the fast node (first touch,
    4 fast pages), 4-7 on the slow one. The first visit finds all eight not
    idle (newly faulted): 4 top-tier and 4 slow-tier accessed, pages 4-7
    queued. The visit leaves them idle: the second visit finds nothing."""
    sim = make_sim(impl, [[0] * 8] * 3, fast_pages=4, placement="first_touch")
    c = sim.counters
    counters = lambda: (c.toptier, c.slowtier, c.idlepage, c.migadded)  # noqa: E731
    got = run_with(sim, [(0.5, lambda: list(sim.mem.node)), (1.0, lambda: visit(sim)),
                         (1.1, counters), (2.0, lambda: visit(sim)), (2.1, counters)])
    assert got == [[0, 0, 0, 0, 1, 1, 1, 1], [4, 5, 6, 7], (4, 4, 0, 4), [], (4, 4, 8, 4)]


@pytest.mark.parametrize("impl", IMPLS)
def test_once_young_slow_page_is_queued_until_reclaim_clears_young(impl):
    """Page 0 is accessed at 0.5 s and at 5.5 s only; pages 1-7 never. The
    fast node has 1 page. V1 visits at 1, 2, 3 s: the first queues all eight
    (newly faulted), then page 0 alone, twice, though it was not accessed
    again: PG_young is sticky. At 3.1 s page 0 is promoted (its flags move
    with it), which fills the fast node and wakes kswapd: its walk passes over
    page 0 once (test-and-clear PG_young counts as a reference: second chance)
    and demotes it on its next turn, by 3.5 s. The 4 s and 5 s visits queue
    nothing; the 6 s visit, after the new access, queues it."""
    counts = [[1] + [0] * 7] + [[0] * 8] * 4 + [[1] + [0] * 7] + [[0] * 8]
    sim = make_sim(impl, counts, fast_pages=1)
    mem = sim.mem

    def promote():
        """The fast node is then full (high watermark 0 pages): wake kswapd."""
        mem.move(np.array([0]), 0, "promote")
        mem.wake_kswapd(0)
        return int(mem.node[0]), int(mem.pgflags[0])

    scan = lambda: visit(sim)  # noqa: E731
    page0 = lambda: (int(mem.node[0]), int(mem.pgflags[0]))  # noqa: E731
    got = run_with(sim, [(1.0, scan), (2.0, scan), (3.0, scan), (3.1, promote), (3.5, page0),
                         (4.0, scan), (5.0, scan), (6.0, scan)])
    assert got[:3] == [list(range(8)), [0], [0]]
    assert got[3] == (0, PG_IDLE | PG_YOUNG)  # the flags moved with the page
    node, flags = got[4]
    assert node == 1 and not flags & (PG_YOUNG | PG_REFERENCED)  # demoted by kswapd
    assert got[5:] == [[], [], [0]]


@pytest.mark.parametrize("impl", IMPLS)
def test_v1_referenced_or_not_idle_counts_as_accessed(impl):
    """The V0-V2 test is ``!idle || young || referenced || A``: after a first
    visit leaves every page idle, a page whose PG_referenced is set (by
    reclaim) or whose PG_idle was cleared (reclaim's walk saw a reference) is
    queued without an A bit; each visit ends with the page idle."""
    sim = make_sim(impl, [[0] * 4] * 3)

    def reclaim_flags():
        sim.mem.pgflags[1] |= PG_REFERENCED
        sim.mem.pgflags[2] &= ~np.uint8(PG_IDLE)

    got = run_with(sim, [(1.0, lambda: visit(sim)), (1.5, reclaim_flags),
                         (2.0, lambda: visit(sim))])
    assert got == [[0, 1, 2, 3], None, [1, 2]]
    assert list(sim.mem.pgflags) == [PG_IDLE, PG_IDLE | PG_REFERENCED, PG_IDLE, PG_IDLE]


@pytest.mark.parametrize("impl", IMPLS)
def test_v3_queues_only_after_two_consecutive_windows(impl):
    """V3 (prev_idle): a slow page is queued when its A bit is set and it was
    not idle when the visit began. Visits at 1, 2, 3, 4 s; windows 0-3:

    page 0 accessed in 0, 1, 2, 3: queued at every visit (the first because a
      newly faulted page is not idle, then because the A bit left it not idle);
    page 1 in 0 and 2: queued at 1 s (newly faulted), not at 3 s (idle after 2 s);
    page 2 in 1 and 2: not at 2 s (idle after the 1 s visit), queued at 3 s;
    page 3 never; page 4 in 1 and 3: never two in a row.

    V1 on the same trace queues every page seen accessed once, and again while
    PG_young stays set (a page once young is queued at every later visit)."""
    counts = [[1, 1, 0, 0, 0], [1, 0, 1, 0, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 1]]
    sim = make_sim(impl, counts, version="v3")
    assert visits(sim, [1.0, 2.0, 3.0, 4.0]) == [[0, 1], [0], [0, 2], [0]]
    assert sim.counters.slowtier == 6
    # Accessed now: not idle; the others idle.
    assert list(sim.mem.pgflags) == [PG_YOUNG, PG_IDLE | PG_YOUNG, PG_IDLE | PG_YOUNG,
                                     PG_IDLE, PG_YOUNG]
    sim = make_sim(impl, counts, version="v1")
    assert visits(sim, [1.0, 2.0, 3.0, 4.0]) == [
        [0, 1, 2, 3, 4], [0, 1, 2, 4], [0, 1, 2, 4], [0, 1, 2, 4]]


@pytest.mark.parametrize("impl", IMPLS)
def test_v3_top_tier_accessed_is_young_or_referenced(impl):
    """V3 counts a top-tier page accessed when PG_young, PG_referenced or the A
    bit is set (no prev_idle): page 0 (accessed in window 0) counts at both
    visits, page 1 (never accessed) at neither, and nothing is queued."""
    sim = make_sim(impl, [[1, 0], [0, 0], [0, 0]], version="v3", placement="fast")
    assert visits(sim, [1.0, 2.0]) == [[], []]
    assert (sim.counters.toptier, sim.counters.idlepage) == (2, 2)


@pytest.mark.parametrize("impl", IMPLS)
def test_visit_takes_time_and_pays_a_kzalloc_per_entry(impl):
    """40 slow pages of 64 KiB in VMAs of 1 MiB (16, 16, 8 pages); the default
    scan_size covers all three (the walk stops where it wraps). Costs: 1 us
    a PTE, 10 us a VMA, 0.5 us an entry. The first visit (1 s) queues all 40
    (newly faulted). VMA 0's walk ends at 16 + 10 + 8 = 34 us, VMA 1's at
    68 us, VMA 2's at 68 + 8 + 10 + 4 = 90 us: each VMA's entries are visible
    from then on. The wake-up costs 90 us of
    CPU; next_scan = 1 s + 90 us + the 1000 ms period."""
    counts = [[0] * 40] * 3
    sim = make_sim(impl, counts, page_kb=64, vma_mb=1,
                   costs=dict(scan_pte_ns=1000, scan_vma_ns=10_000, kzalloc_ns=500))

    def wake():
        cost = sim.policy.scanner.wake()
        q = sim.policy.queue
        pages, visible = q.peek(q.length)
        q.consume(q.length)
        return cost, list(pages), list(visible), sim.policy.slots[0].next_scan

    first, second = run_with(sim, [(1.0, wake), (2.000090, wake)])
    assert first == (pytest.approx(90_000), list(range(40)),
                     [1_000_034.0] * 16 + [1_000_068.0] * 16 + [1_000_090.0] * 8,
                     1_000_090 + 1_000_000)
    # The second visit queues nothing: 40 PTEs and 3 VMAs, 70 us.
    assert second == (pytest.approx(70_000), [], [], 2_000_160 + 1_000_000)


@pytest.mark.parametrize("impl", IMPLS)
def test_next_scan_counts_from_the_end_of_the_walk_in_a_run(impl):
    """A whole run: 8 slow pages never accessed, scan_pte_ns 10 ms (a visit of
    8 PTEs takes 80 ms), 16 ms sleeps. Visits start at 1.008 s (the first
    16 ms tick after the 1000 ms delay); each ends 80 ms later and the next is
    due 1000 ms after that end, 2.088 s. The thread sleeps 16 ms after its
    walk, so it wakes at 1.104 + 16 k ms: the visit starts at 2.096 s. In 4 s:
    visits at 1.008, 2.096 (due 3.176) and 3.184 s."""
    sim = new_sim(impl, make_cfg([[0] * 8] * 4, costs=dict(scan_pte_ns=10_000_000)))
    starts = []
    orig = sim.policy.scanner.visit

    def spy(mm, clock_ns):
        starts.append(clock_ns / 1e9)
        return orig(mm, clock_ns)

    sim.policy.scanner.visit = spy
    m = sim.run()
    assert starts == pytest.approx([1.008, 2.096, 3.184])
    assert m["mm_scans"] == 3
    assert math.isclose(sim.cpu_ns.scanner, 3 * 80e6)
