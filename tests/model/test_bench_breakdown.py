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
            s for p, s in parts.items() if p not in (*bench.KERNEL_PARTS, *bench.SETUP_PARTS, bench.REST))
        total = r[clock]["total_s"]
        assert abs(r[clock]["python_share"] - outside / total) < 1e-9
        # The timers' own cost comes out of the measured run, once a call.
        measured = r["wall_s"] if clock == "wall" else r["cpu_s"]
        assert r[clock]["timed_calls"] > 0
        assert abs(measured - total - r[clock]["timer_s"]) < 1e-9
        assert abs(sum(parts.values()) - total) < 1e-9
        assert set(r[clock]["ns_per_element"]) == set(bench.KERNEL_PARTS)


def test_timer_cost_is_a_positive_share_of_a_call_inside_its_window():
    cost = bench.timer_cost(n=20_000, repeat=2)
    for clock in ("wall", "cpu"):
        whole, inside = cost[clock]
        # A timed no-op costs something, and the share its own window
        # records cannot exceed the whole (nor a millisecond a call).
        assert 0 < whole < 1e-3, (clock, cost)
        assert 0 <= inside <= whole, (clock, cost)


def test_wrapped_callable_counts_its_calls_and_passes_results():
    spent, cpu, calls = {"p": 0.0}, {"p": 0.0}, {"p": 0}
    f = bench._wrap(lambda x, y=1: x + y, "p", spent, cpu, calls)
    assert [f(1), f(2, y=5)] == [2, 7]
    assert calls == {"p": 2} and spent["p"] >= 0 and cpu["p"] >= 0
