"""Aggregating one metric over a workload suite: mean, worst case, geometric mean.

A trial's value for a metric is computed in two steps:

1. per workload: the arithmetic mean over the suite's seeds;
2. over workloads: ``mean``, ``worst`` (the minimum when maximizing, the
   maximum when minimizing) or ``gmean``.

``gmean`` is the *shifted* geometric mean, because the simulator's objective
is a signed quantity (a policy can lose hit rate and scores < 0; doing
nothing scores exactly 0)::

    gmean(x; s) = exp(mean(log(x_i + s))) - s        (s = gmean_shift, default 1)

It equals the plain geometric mean for s = 0, is defined for every x_i > -s,
and like the geometric mean it rewards balanced gains over one large gain.
A value x_i <= -s is clamped to -s + 1e-9 (log = -20.7): that workload then
dominates the aggregate, which sinks close to -s -- the worst score gmean can
give. Pick s at the scale of the metric (1 suits `objective`, whose unit is
one percentage point of hit rate per percent of a CPU; use s = 0 only for
strictly positive metrics such as `hit_rate`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

GMEAN_FLOOR = 1e-9


def aggregate(values: Iterable[float], how: str, direction: str = "maximize",
              shift: float = 1.0) -> float:
    xs = [float(v) for v in values]
    if not xs:
        return float("nan")
    if any(math.isnan(x) for x in xs):
        return float("nan")
    if how == "mean":
        return sum(xs) / len(xs)
    if how == "worst":
        return min(xs) if direction == "maximize" else max(xs)
    if how == "gmean":
        logs = [math.log(max(x + shift, GMEAN_FLOOR)) for x in xs]
        return math.exp(sum(logs) / len(logs)) - shift
    raise ValueError(f"unknown aggregate {how!r}")


def per_workload(values: Mapping[str, Iterable[float]]) -> dict[str, float]:
    """Mean over seeds for each workload."""
    out = {}
    for w, vs in values.items():
        vs = [float(v) for v in vs]
        out[w] = sum(vs) / len(vs) if vs else float("nan")
    return out


def suite_value(values: Mapping[str, Iterable[float]], order: list[str], how: str,
                direction: str = "maximize", shift: float = 1.0) -> float:
    """Aggregate of the per-workload means over the workloads in `order`."""
    means = per_workload(values)
    return aggregate([means[w] for w in order], how, direction, shift)
