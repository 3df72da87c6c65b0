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
    parts = r["parts"]
    assert list(parts)[:-1] == list(bench.PARTS)
    # Each part was called; the rest (wall minus the parts) is left over, so
    # no part's timer also counted another's.
    assert all(s > 0 for s in parts.values()), parts
