"""Per-workload normalization on a hand-made suite: workloads of unlike scales
weigh alike once each is scored in its own terms."""

import math

import pandas as pd
import pytest

from harness.analysis.normalize import References, constraint_values, feasible, front, knee
from harness.search.aggregate import aggregate


def _row(w, hit, none, cpu_s, dur=100.0, seed=1):
    return {"workload": w, "seed": seed, "hit_rate": hit, "hit_rate_none": none,
            "cost_cpu_s": cpu_s, "duration_s": dur}


# Two workloads: "big" (gains of tens of points, costly to scan) and "tiny"
# (a 2 MiB trace: a few points, almost free to scan).
REFS = References.from_rows(
    pd.DataFrame([_row("big", 0.90, 0.10, 0.0), _row("tiny", 0.50, 0.40, 0.0)]),  # oracle
    pd.DataFrame([_row("big", 0.50, 0.10, 40.0), _row("tiny", 0.45, 0.40, 0.2)]))  # RFC


def test_gain_share_cost_rel_and_score_by_hand():
    d = REFS.derive(_row("big", 0.70, 0.10, 20.0))
    assert d["cpu_percent"] == pytest.approx(20.0)
    assert d["gain_share"] == pytest.approx(0.60 / 0.80)        # 75% of the attainable gain
    assert d["cost_rel"] == pytest.approx(20.0 / 40.0)          # half the RFC's CPU
    assert d["norm_objective"] == pytest.approx(0.75 / 1.5)
    assert d["hit_loss_points"] == pytest.approx(-20.0)          # 20 points better than RFC
    t = REFS.derive(_row("tiny", 0.45, 0.40, 0.2))               # the RFC defaults themselves
    assert t["gain_share"] == pytest.approx(0.5) and t["cost_rel"] == pytest.approx(1.0)
    assert t["norm_objective"] == pytest.approx(0.25)
    assert t["hit_loss_points"] == pytest.approx(0.0)


def test_unlike_scales_weigh_alike_after_normalization():
    """Policy A halves the big workload's gain to save CPU there; policy B gives up
    the tiny workload's gain. On the raw objective (points per % CPU) the tiny
    workload decides the mean; normalized, losing half of either workload's
    attainable gain costs the same."""
    a = [REFS.derive(_row("big", 0.30, 0.10, 10.0)), REFS.derive(_row("tiny", 0.45, 0.40, 0.2))]
    b = [REFS.derive(_row("big", 0.50, 0.10, 40.0)), REFS.derive(_row("tiny", 0.425, 0.40, 0.2))]

    def raw(r):  # the simulator's objective: gain in points per (% CPU + 1)
        return 100 * (r["hit_rate"] - r["hit_rate_none"]) / (r["cpu_percent"] + 1)

    ra, rb = aggregate(map(raw, a), "mean"), aggregate(map(raw, b), "mean")
    assert ra > 1.5 * rb  # 2.99 vs 1.53: the cheap tiny trace decides the raw mean
    ga = [r["gain_share"] for r in a]
    gb = [r["gain_share"] for r in b]
    assert ga == pytest.approx([0.25, 0.5]) and gb == pytest.approx([0.5, 0.25])
    assert aggregate(ga, "mean") == pytest.approx(aggregate(gb, "mean"))
    assert aggregate(ga, "worst") == pytest.approx(0.25) == aggregate(gb, "worst")


def test_constraints_take_the_worst_workload():
    per = {"big": {"hit_loss_points": -5.0, "cpu_percent": 30.0},
           "tiny": {"hit_loss_points": 3.0, "cpu_percent": 0.5}}
    c = constraint_values(per, {"max_hit_loss_points": 2, "max_cpu_percent": 50})
    assert c == {"max_hit_loss_points": pytest.approx(1.0), "max_cpu_percent": -20.0}
    assert not feasible(c)
    assert feasible(constraint_values(per, {"max_hit_loss_points": 3}))
    nan = {"big": {"hit_loss_points": math.nan, "cpu_percent": 1.0}}
    assert not feasible(constraint_values(nan, {"max_hit_loss_points": 2}))


def test_front_and_knee():
    p = pd.DataFrame({"cost_rel": [0.1, 0.2, 0.5, 1.0, 0.6],
                      "gain_share": [0.1, 0.7, 0.8, 0.85, 0.5]}, index=[10, 11, 12, 13, 14])
    assert list(front(p).index) == [10, 11, 12, 13]  # 14 is dominated by 12
    assert knee(front(p)) == 11
