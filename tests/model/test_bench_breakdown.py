"""`tiersweep bench --breakdown`: each part timed is one the run calls, and
the timers are gone afterwards."""

from __future__ import annotations

import importlib

from harness.tools import bench


def _current():
    out = {}
    for targets in bench.PARTS.values():
        for module, attr in targets:
            owner = importlib.import_module(module)
            *outer, name = attr.split(".")
            for a in outer:
                owner = getattr(owner, a)
            out[(module, attr)] = getattr(owner, name)
    return out


def test_breakdown_times_every_part_and_restores_them():
    before = _current()
    r = bench.breakdown(0.25, 3.0, "zipf")
    assert _current() == before
    parts = r["parts"]
    assert list(parts)[:-1] == list(bench.PARTS)
    assert all(s > 0 for s in parts.values()), parts  # each was called; the rest is what is left
    assert abs(sum(parts.values()) - r["wall_s"]) < 1e-9
