"""`tiersweep bench`'s per-page work of a case, from its counters."""

from __future__ import annotations

from harness.model import simulate
from harness.tools import bench

# Costs with no common measure (ns): a CPU time made of whole pages at one and
# whole demotions at the other decomposes into whole numbers only one way.
SCAN_NS, MOVE_US, SHOOTDOWN_US = 237.13, 3.4711, 0.6183


def test_kswapd_pages_examined_are_a_whole_number_recovered_from_its_cpu_time():
    # A small case with kswapd busy (all pages first on the slow tier).
    cfg = bench.bench_config(0.25, 3.0, "zipf").replace({
        "costs.kswapd_scan_ns": SCAN_NS, "costs.migrate_page_us": MOVE_US,
        "costs.tlb_shootdown_us": SHOOTDOWN_US})
    m = simulate(cfg).metrics
    work = bench.per_page_work(cfg, m)
    examined = work["pages kswapd's CLOCK examined"]
    assert m["demotions"] > 0 and isinstance(examined, int)
    # kswapd's CPU time is kswapd_scan_ns per page examined plus a page move
    # per demotion and nothing else (no cost per run, batch or chunk): with
    # these costs, what is left after the demotions is whole pages.
    cpu_ns = m["kswapd_cpu_s"] * 1e9
    move_ns = (MOVE_US + SHOOTDOWN_US) * 1000
    pages = (cpu_ns - m["demotions"] * move_ns) / SCAN_NS
    assert abs(pages - round(pages)) < 1e-4 and round(pages) == examined
    # Each victim was examined; a run examines at most two turns of the pages.
    assert m["demotions"] <= examined <= 2 * m["pages"] * m["kswapd_runs"]
    # The A bits it found set (each redrawn) are pages it examined and passed over.
    redrawn = work["A bits kswapd's CLOCK found set, each a redrawn next access"]
    assert 0 < redrawn == m["kswapd_accessed"] <= examined - m["demotions"]
    assert work["pages moved"] == m["promotions"] + m["demotions"]
    assert work["entries the migration thread processed"] <= work[
        "entries queued on the migration list"] == m["migadded"]
