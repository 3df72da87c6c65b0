"""`tiersweep bench --breakdown`: each part timed is one the run calls, and
the timers are gone afterwards."""

from __future__ import annotations

from harness.tools import bench


def _current():
    return {(m, a): getattr(*bench.part_target(m, a))
            for targets in bench.PARTS.values() for m, a in targets}


def test_breakdown_times_every_part_and_restores_them():
    before = _current()
    r = bench.breakdown(0.25, 3.0, "zipf")
    assert _current() == before
    for clock in ("wall", "cpu"):
        parts = r[clock]["parts"]
        assert list(parts)[:-1] == list(bench.PARTS)
        # Each part was called; the rest (the run minus the parts) is left
        # over, so no part's timer also counted another's.
        assert all(s > 0 for s in parts.values()), (clock, parts)
        # The Python share is what is outside the kernels and the setup.
        outside = parts[bench.REST] + sum(
            s for p, s in parts.items() if p not in (*bench.KERNEL_PARTS, bench.SETUP, bench.REST))
        total = r["wall_s"] if clock == "wall" else r["cpu_s"]
        assert abs(r[clock]["python_share"] - outside / total) < 1e-9
        assert set(r[clock]["ns_per_element"]) == set(bench.KERNEL_PARTS)
