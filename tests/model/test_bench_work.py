"""`tiersweep bench`'s per-page work of a case, from its counters."""

from __future__ import annotations

from harness.model import simulate
from harness.tools import bench


def test_kswapd_pages_examined_follow_from_its_cpu_time():
    # A small case with kswapd busy (all pages first on the slow tier).
    cfg = bench.bench_config(0.25, 3.0, "zipf")
    m = simulate(cfg).metrics
    work = bench.per_page_work(cfg, m)
    examined = work["pages kswapd's CLOCK examined"]
    # kswapd's CPU time is kswapd_scan_ns per page examined plus a move per
    # demotion and nothing else: the whole number of pages gives it back.
    c = cfg.costs
    cpu_ns = examined * c.kswapd_scan_ns + m["demotions"] * c.page_move_ns
    assert abs(cpu_ns - m["kswapd_cpu_s"] * 1e9) < 1e-3
    assert m["demotions"] > 0
    # Each victim was examined; a run examines at most two turns of the pages.
    assert m["demotions"] <= examined <= 2 * m["pages"] * m["kswapd_runs"]
    assert work["pages moved"] == m["promotions"] + m["demotions"]
    assert work["entries the migration thread processed"] <= work[
        "entries queued on the migration list"] == m["migadded"]
