"""The kmmscand migration thread takes time: each entry costs its thread's clock
and a page moves when its entry ends, derived by hand from docs/MODEL.md.

Unless a test says otherwise: 8 pages of 4 KiB of one process, placed on the
slow node; a fast node of 16 pages, watermarks 0 % (room for 16 promotions);
the scanner is off and the tests put entries on the migration list
themselves, at a time and with a visible-at time of their choosing. Per-entry
costs: a success 3.3 + 2.0 = 5.3 us, a failure 500 ns, a stale entry 300 ns.
kmmmigrated wakes at 0 (empty list: it sleeps 20 + 20 ms) and at 40 ms finds
the entries. Every test runs the vectorized and the per-page reference model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import from_dict
from harness.model.core import PRIO_POLICY
from harness.model.engine import Sim
from harness.model.metrics import ENTRY_BYTES
from harness.model.policies import make_policy
from harness.model.reference import make_reference_sim
from tests.helpers.simcfg import gb

IMPLS = ["vectorized", "reference"]
COSTS = dict(scan_pte_ns=0, scan_vma_ns=0, kzalloc_ns=0, migrate_page_us=3.3,
             tlb_shootdown_us=2.0, migrate_fail_ns=500, migrate_stale_ns=300)
OK_US, FAIL_US, STALE_US = 5.3, 0.5, 0.3
WAKE_US = 40_000  # the migrator's first wake with work


def cfg_for(policy: dict | None = None, *, fast_pages: int = 16, counts=None,
            platform: dict | None = None, sample_ms: int = 500, duration_s: float = 1.0):
    plat = dict(wmark_high_pct=0.0, wmark_promo_pct=0.0, nodes=[
        dict(id=0, tier="fast", capacity_gb=gb(fast_pages)),
        dict(id=1, tier="slow", capacity_gb=gb(16))])
    plat.update(platform or {})
    pol = dict(kind="kmmscand", version="v1", scan_enabled=False)
    pol.update(policy or {})
    counts = counts if counts is not None else [[1] * 8]
    return from_dict(dict(
        seed=1, duration_s=duration_s, sample_ms=sample_ms, platform=plat, costs=COSTS,
        policy=pol, workload=dict(kind="counts", counts=counts, window_ms=1000,
                                  placement="slow", vma_mb=0)), "migration-thread")


def make_sim(cfg, impl: str) -> Sim:
    return make_reference_sim(cfg) if impl == "reference" else Sim(cfg, make_policy(cfg.policy))


def push_at(sim: Sim, t_us: int, pages: list[int], visible_at_us: float | None = None) -> None:
    """Put entries on the list at t_us (an event), visible from visible_at_us (default t_us)."""
    vis = t_us if visible_at_us is None else visible_at_us
    sim.schedule(t_us, PRIO_POLICY, lambda: sim.policy.queue.push(
        np.array(pages, dtype=np.int64), vis))


def move_log(sim: Sim) -> list[tuple[int, float, str]]:
    """(page, move time in us, kind) of every page move, in call order."""
    log: list[tuple[int, float, str]] = []
    move = sim.mem.move

    moved = sim.mem.moved

    def logged(pages, dst, kind, *args, at_us=None, **kwargs):
        at = [float(sim.t)] * len(pages) if at_us is None else [float(a) for a in at_us]
        log.extend((int(p), a, kind) for p, a in zip(pages, at, strict=True))
        move(pages, dst, kind, *args, at_us=at_us, **kwargs)

    def logged_walk(pages, kind, *args):  # moves a compiled walk made itself
        at_us = args[-1]
        log.extend((int(p), float(a), kind) for p, a in zip(pages, at_us, strict=True))
        moved(pages, kind, *args)

    sim.mem.move = logged
    sim.mem.moved = logged_walk
    return log


def wake_log(sim: Sim, name: str) -> list[int]:
    """Event times of one of the policy's threads (its bound method, by name)."""
    times: list[int] = []
    fn = getattr(sim.policy, name)

    def logged():
        times.append(sim.t)
        fn()

    setattr(sim.policy, name, logged)
    return times


def ends(start_us: float, costs_us: list[float]) -> list[float]:
    """Completion times of entries processed one after the other from start_us."""
    out, ns = [], round(start_us * 1000)
    for c in costs_us:
        ns += round(c * 1000)
        out.append(ns / 1000)
    return out


@pytest.mark.parametrize("impl", IMPLS)
def test_a_pass_over_n_entries_takes_n_times_the_entry_cost_in_fifo_order(impl):
    """Entries for pages 5, 2, 7, 0, 3: the pages move one by one, in list
    order, each 5.3 us after the previous one; the pass ends 5 x 5.3 us after
    it began (the migrator's CPU time) and the thread next wakes 40 ms after
    that."""
    sim = make_sim(cfg_for(), impl)
    push_at(sim, 1000, [5, 2, 7, 0, 3])
    log = move_log(sim)
    wakes = wake_log(sim, "_migrator_thread")
    m = sim.run()
    assert [p for p, _, _ in log] == [5, 2, 7, 0, 3]
    assert [a for _, a, _ in log] == pytest.approx(ends(WAKE_US, [OK_US] * 5), abs=1e-9)
    assert m["promotions"] == 5 and m["promote_failed"] == 0
    assert m["migrator_cpu_s"] == pytest.approx(5 * OK_US * 1e-6, rel=1e-12)
    assert sim.counters.shootdowns == 5  # one per success: the runtime stalls the threads
    end = WAKE_US + 5 * OK_US
    assert wakes[:3] == [0, WAKE_US, math.ceil(end + 40_000)]


@pytest.mark.parametrize("impl", IMPLS)
def test_a_long_pass_runs_in_chunks_between_events_at_the_same_pace(impl):
    """A pass of 200 entries (1.06 ms) with a sample every 1 ms: the pass is
    cut at the 41 ms sample and goes on; page k still moves at
    40 ms + (k + 1) x 5.3 us, and the sample at 41 ms sees the entries not
    done by then (floor(1000 / 5.3) = 188 done, 12 left: 12 x 64 bytes)."""
    n = 200
    counts = [[1] * n]
    sim = make_sim(cfg_for(counts=counts, fast_pages=256, sample_ms=1,
                           platform=dict(nodes=[
                               dict(id=0, tier="fast", capacity_gb=gb(256)),
                               dict(id=1, tier="slow", capacity_gb=gb(256))])), impl)
    order = list(np.random.default_rng(3).permutation(n))
    push_at(sim, 1000, order)
    log = move_log(sim)
    m = sim.run()
    assert [p for p, _, _ in log] == order
    assert [a for _, a, _ in log] == pytest.approx(ends(WAKE_US, [OK_US] * n), abs=1e-9)
    ts = sim.series
    i = ts["t_s"].index(0.041)
    assert ts["queue_len"][i] == n - 188
    assert ts["queue_bytes"][i] == (n - 188) * ENTRY_BYTES
    assert ts["queue_len"][i + 1] == 0
    assert m["queue_len_peak"] == n and m["queue_bytes_peak"] == n * ENTRY_BYTES


@pytest.mark.parametrize("impl", IMPLS)
def test_entries_queued_mid_pass_are_drained_by_the_same_pass(impl):
    """4 entries at 1 ms; 2 more spliced on at 40.010 ms, while the pass (40 ms
    to 40.0212 ms) runs: they are reached at 40.0212 ms, after they became
    visible, so the same pass drains them (ends at 40 ms + 6 x 5.3 us). Two
    more pushed at 40.020 ms but visible only at 40.100 ms (a walk that ends
    then) are not there when the pass runs out of work: the thread sleeps and
    takes them at its next wake, 40 ms after the pass ended."""
    sim = make_sim(cfg_for(), impl)
    push_at(sim, 1000, [0, 1, 2, 3])
    push_at(sim, 40_010, [4, 5])
    push_at(sim, 40_020, [6, 7], visible_at_us=40_100)
    log = move_log(sim)
    wakes = wake_log(sim, "_migrator_thread")
    sim.run()
    first = ends(WAKE_US, [OK_US] * 6)
    next_wake = math.ceil(first[-1] + 40_000)
    assert [p for p, _, _ in log] == list(range(8))
    assert [a for _, a, _ in log] == pytest.approx(first + ends(next_wake, [OK_US] * 2),
                                                  abs=1e-9)
    assert next_wake in wakes


@pytest.mark.parametrize("impl", IMPLS)
def test_failed_and_duplicate_entries_are_charged(impl):
    """A fast node of one page (watermark 0, kswapd off) and entries
    0, 0, 1, 2: page 0 is promoted (5.3 us), its second entry finds it moved
    (stale: 0.3 us; the posted code tests the source's tier before source ==
    destination, so it is an ineligible source), pages 1 and 2 find the destination full (failures:
    0.5 us each). The pass ends 6.6 us after it began. (The entries' slab
    page is left off the node: list_slab false; the slab has its own tests.)"""
    sim = make_sim(cfg_for(dict(list_slab=False), fast_pages=1, platform=dict(kswapd=False)),
                   impl)
    push_at(sim, 1000, [0])
    push_at(sim, 1001, [0, 1, 2])
    log = move_log(sim)
    wakes = wake_log(sim, "_migrator_thread")
    m = sim.run()
    assert log == [(0, WAKE_US + OK_US, "promote")]
    assert m["promotions"] == 1
    assert m["migrate_stale"] == m["failed_ineligible_src"] == 1
    assert m["failed_same_node"] == 0
    assert m["failed_dest_watermark"] == 2
    assert m["promote_failed"] == 3
    total_us = OK_US + STALE_US + 2 * FAIL_US
    assert m["migrator_cpu_s"] == pytest.approx(total_us * 1e-6, rel=1e-12)
    assert math.ceil(WAKE_US + total_us + 40_000) in wakes


@pytest.mark.parametrize("impl", IMPLS)
def test_dedup_keeps_a_page_off_the_list_until_its_entry_is_processed(impl):
    """De-duplication: page 3 pushed twice before the pass is queued once; after
    its entry was processed (promoted at 40.0053 ms) it can be queued again,
    and that entry is stale (0.3 us)."""
    sim = make_sim(cfg_for(dict(dedup=True)), impl)
    push_at(sim, 1000, [3])
    push_at(sim, 2000, [3, 4])
    push_at(sim, 50_000, [3])
    m = sim.run()
    assert m["queue_len_peak"] == 2
    assert m["promotions"] == 2 and m["migrate_stale"] == 1
    assert m["migrator_cpu_s"] == pytest.approx((2 * OK_US + STALE_US) * 1e-6, rel=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_batch_caps_the_entries_of_a_pass(impl):
    """migrate_batch 2 and five entries: passes of 2, 2 and 1 entries, each
    starting 40 ms after the previous one ended."""
    sim = make_sim(cfg_for(dict(migrate_batch=2)), impl)
    push_at(sim, 1000, [0, 1, 2, 3, 4])
    log = move_log(sim)
    sim.run()
    p1 = ends(WAKE_US, [OK_US] * 2)
    w2 = math.ceil(p1[-1] + 40_000)
    p2 = ends(w2, [OK_US] * 2)
    w3 = math.ceil(p2[-1] + 40_000)
    p3 = ends(w3, [OK_US])
    assert [a for _, a, _ in log] == pytest.approx(p1 + p2 + p3, abs=1e-9)


@pytest.mark.parametrize("impl", IMPLS)
def test_rate_limit_ends_a_pass_when_its_allowance_is_spent(impl):
    """0.1 MB/s of 4 KiB pages is 25.6 pages/s: at 40 ms the bucket holds 1.024
    pages, so the pass promotes one page and ends; 40.0053 ms later the bucket
    holds 1.048 pages: one more. One page per pass."""
    sim = make_sim(cfg_for(dict(migrate_rate_limit_mbps=0.1)), impl)
    push_at(sim, 1000, [0, 1, 2])
    log = move_log(sim)
    sim.run()
    a1 = WAKE_US + OK_US
    w2 = math.ceil(a1 + 40_000)
    a2 = w2 + OK_US
    w3 = math.ceil(a2 + 40_000)
    assert [a for _, a, _ in log] == pytest.approx([a1, a2, w3 + OK_US], abs=1e-9)


@pytest.mark.parametrize("impl", IMPLS)
def test_rate_limit_spent_inside_the_lists_fifth_piece(impl):
    """0.5 MB/s is 128 pages/s: at 40 ms the bucket holds 5.12 pages. The list
    holds five pieces (1, 1, 1, 1 and 3 entries, spliced apart): the pass
    promotes the first four and one entry of the fifth piece, then ends; 40 ms
    after it the bucket holds 5 pages again and the last two are promoted."""
    sim = make_sim(cfg_for(dict(migrate_rate_limit_mbps=0.5)), impl)
    for pages in ([0], [1], [2], [3], [4, 5, 6]):
        push_at(sim, 1000, pages)
    log = move_log(sim)
    m = sim.run()
    p1 = ends(WAKE_US, [OK_US] * 5)
    w2 = math.ceil(p1[-1] + 40_000)
    assert [p for p, _, _ in log] == list(range(7))
    assert [a for _, a, _ in log] == pytest.approx(p1 + ends(w2, [OK_US] * 2), abs=1e-9)
    assert m["promotions"] == 7 and m["promote_failed"] == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_v0_one_thread_visits_then_drains_then_sleeps(impl):
    """V0: the scanner thread's visits (stubbed: 3 entries, 1 ms of walking) are
    followed by a pass that starts when the walks end (1 ms), then
    scan_sleep_ms (16) from the pass's end to the next wake-up."""
    sim = make_sim(cfg_for(dict(version="v0", scan_enabled=True)), impl)
    scanner = sim.policy.scanner
    calls: list[int] = []

    def wake() -> float:
        calls.append(sim.t)
        if len(calls) == 1:
            sim.policy.queue.push(np.array([6, 1, 4]), sim.t + 1000.0)
        return 1_000_000.0

    scanner.wake = wake
    log = move_log(sim)
    m = sim.run()
    moved = ends(1000, [OK_US] * 3)
    assert [p for p, _, _ in log] == [6, 1, 4]
    assert [a for _, a, _ in log] == pytest.approx(moved, abs=1e-9)
    assert calls[:3] == [0, math.ceil(moved[-1] + 16_000), math.ceil(moved[-1] + 16_000)
                         + 1000 + 16_000]
    assert m["migrator_cpu_s"] == pytest.approx(3 * OK_US * 1e-6, rel=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_hit_accounting_counts_each_page_fast_from_its_own_move(impl):
    """Constant rates (one counts window as long as the run): the fast-tier
    accesses are exactly each promoted page's rate x (end - its move time),
    though the pages move inside events, between samples."""
    counts = [[3, 1, 4, 1, 5, 9, 2, 6]]
    sim = make_sim(cfg_for(counts=counts, sample_ms=20), impl)
    push_at(sim, 1000, [5, 2, 7, 0])
    push_at(sim, 40_005, [3, 6])
    log = move_log(sim)
    m = sim.run()
    rate = np.array(counts[0], dtype=float)  # per s: 1000 ms window
    end_us = sim.end_us
    fast = sum(rate[p] * (end_us - a) / 1e6 for p, a, _ in log)
    assert m["accesses"] == pytest.approx(rate.sum() * end_us / 1e6, rel=1e-12)
    assert m["hit_rate"] == pytest.approx(fast / m["accesses"], rel=1e-9)


# ------------------------------------------------ the list's slab (slab.py)


def probe_at(sim: Sim, t_us: int, out: dict) -> None:
    """Record the list's slab and the nodes' free pages at t_us (after the pushes)."""
    def look():
        q, mem = sim.policy.queue, sim.mem
        out.update(length=q.length, live=q.slab.live.tolist(),
                   bytes=[q.slab.bytes_on(d) for d in range(mem.n_nodes)],
                   slab_pages=mem.slab_pages.tolist(), free=mem.free.tolist(),
                   failed=sim.counters.kzalloc_failed)
    sim.schedule(t_us, PRIO_POLICY + 5, look)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("version,size,pages", [("v1", 64, 4), ("v3", 32, 2)])
def test_slab_bytes_are_entries_times_entry_size_on_the_scanners_node(impl, version, size,
                                                                      pages):
    """200 entries pushed at 1 ms (the workload's 8 pages all on the slow node):
    kmalloc objects of 64 B (V1's 40-byte kmmscand_migrate_info) or 32 B (V3's
    kscand_migrate_info) on node 0, the scanner's node, whose free pages are
    above LOW: 200 x size bytes, ceil(200 x size / 4096) slab pages taken from
    node 0's free pages. The pass (40 ms) frees them all."""
    sim = make_sim(cfg_for(dict(version=version), fast_pages=256), impl)
    before, after = {}, {}
    push_at(sim, 1000, list(range(8)) * 25)
    probe_at(sim, 1000, before)
    probe_at(sim, 45_000, after)
    m = sim.run()
    assert before["length"] == 200 and before["live"] == [200, 0]
    assert before["bytes"] == [200 * size, 0]
    assert before["slab_pages"] == [pages, 0]
    assert before["free"][0] == 256 - pages
    assert after["live"] == [0, 0] and after["slab_pages"] == [0, 0]
    assert after["free"][0] == 256 - m["promotions"]
    assert m["queue_bytes_peak"] == 200 * size


@pytest.mark.parametrize("impl", IMPLS)
def test_slab_falls_back_along_the_zonelist(impl):
    """V3 (32 B, 128 objects a 4 KiB page), node 0 of one free page, LOW 0:
    its one page takes the first 128 entries, the next 72 go to the next node
    with a free page above LOW, the slow node (one slab page)."""
    sim = make_sim(cfg_for(dict(version="v3"), fast_pages=1), impl)
    got = {}
    push_at(sim, 1000, list(range(8)) * 25)
    probe_at(sim, 1000, got)
    sim.run()
    assert got["live"] == [128, 72] and got["slab_pages"] == [1, 1]
    assert got["free"] == [0, 16 - 8 - 1]
    assert got["failed"] == 0 and got["length"] == 200


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("version,queued", [("v1", 0), ("v0", 5)])
def test_gfp_nowait_entries_fail_under_the_min_watermark(impl, version, queued):
    """Watermarks MIN = LOW = HIGH = 10 % (2 pages of 16) and 30 workload
    pages, placed slow first: the slow node full (16), the fast one down to
    its HIGH (14 pages, 2 free). Five entries: no node has a free page above
    LOW or MIN, so GFP_NOWAIT (V1) fails each (kzalloc_failed 5, nothing
    queued) after waking node 0's kswapd; V0's GFP_KERNEL may take node 0's
    last free pages: one slab page, all five queued."""
    plat = dict(wmark_high_pct=10.0, wmark_promo_pct=10.0, wmark_min_pct=10.0)
    sim = make_sim(cfg_for(dict(version=version), fast_pages=16, counts=[[1] * 30],
                           platform=plat), impl)
    got = {}
    push_at(sim, 1000, [16, 17, 18, 19, 20])
    probe_at(sim, 1000, got)
    m = sim.run()
    assert got["length"] == queued and got["failed"] == 5 - queued
    assert m["kzalloc_failed"] == 5 - queued
    assert got["live"] == [queued, 0]
    assert got["free"] == [2 - (1 if queued else 0), 0]
    assert m["kswapd_runs"] == 1  # the slow path woke node 0's (not balanced: 2 free)
