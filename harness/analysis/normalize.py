"""Per-workload normalization: each workload scored in its own terms.

The simulator's ``objective`` (points of hit-rate gain per percent of a CPU)
has a workload's scale in it: a 2 MiB trace costs almost nothing to scan and
scores 60-80, a 1 GiB synthetic workload 0.5-11, so a suite mean of it is
decided by the small workloads. The derived metrics below are scale-free,
from a row and the suite's reference runs on the same workload and seed
(``none`` is in every row as ``hit_rate_none``; the oracle's hit rate and the
RFC defaults' hit rate and CPU are reference evaluations):

* ``cpu_percent``   = 100 x cost_cpu_s / duration_s (percent of one CPU);
* ``gain_share``    = (hit - hit_none) / (hit_oracle - hit_none): the share of
  the attainable gain achieved (0 = no better than no promotion, 1 = oracle);
* ``cost_rel``      = cpu_percent / cpu_percent of the RFC defaults;
* ``norm_objective`` = gain_share / (1 + cost_rel): gain per cost as the
  mission's objective, in units every workload shares. The RFC defaults score
  half their gain share; a free policy at most its whole gain share, so
  saving CPU can at most double a score while losing hit rate always costs.

Guards (Optuna constraints, feasible at <= 0), over the per-workload means:

* ``max_hit_loss_points``: max over workloads of 100 x (hit_rfc - hit) minus
  the bound;
* ``max_cpu_percent``: max over workloads of cpu_percent minus the bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

# A workload whose oracle gains (almost) nothing over none: the gain share is
# measured against this floor, not divided by ~0.
MIN_ATTAINABLE = 1e-4
MIN_CPU_PERCENT = 0.01


def cpu_percent(row: Mapping) -> float:
    return 100.0 * float(row["cost_cpu_s"]) / float(row["duration_s"])


class References:
    """The suite's reference values per (workload, seed): the oracle's hit rate,
    the RFC defaults' hit rate and CPU percent."""

    def __init__(self, table: Mapping[tuple[str, int], dict[str, float]]):
        self.table = {(str(w), int(s)): dict(v) for (w, s), v in table.items()}

    @classmethod
    def from_rows(cls, oracle: pd.DataFrame, rfc: pd.DataFrame) -> References:
        """From rows (workload, seed, hit_rate, cost_cpu_s, duration_s) of the
        oracle and of the RFC defaults."""
        out: dict[tuple[str, int], dict[str, float]] = {}
        for r in oracle.to_dict("records"):
            out.setdefault((r["workload"], int(r["seed"])), {})["hit_oracle"] = float(
                r["hit_rate"])
        for r in rfc.to_dict("records"):
            d = out.setdefault((r["workload"], int(r["seed"])), {})
            d["hit_rfc"] = float(r["hit_rate"])
            d["cpu_rfc"] = cpu_percent(r)
        return cls(out)

    def to_records(self) -> list[dict]:
        return [{"workload": w, "seed": s, **v} for (w, s), v in sorted(self.table.items())]

    @classmethod
    def from_records(cls, records: list[dict]) -> References:
        return cls({(r["workload"], r["seed"]): {k: v for k, v in r.items()
                                                  if k not in ("workload", "seed")}
                    for r in records})

    def derive(self, row: Mapping) -> dict:
        """The row with the derived metrics added (a copy; NaN without references)."""
        out = dict(row)
        ref = self.table.get((str(row["workload"]), int(row["seed"])), {})
        hit, none = float(row["hit_rate"]), float(row["hit_rate_none"])
        cpu = cpu_percent(row)
        attainable = max(ref.get("hit_oracle", math.nan) - none, MIN_ATTAINABLE)
        share = (hit - none) / attainable
        rel = cpu / max(ref.get("cpu_rfc", math.nan), MIN_CPU_PERCENT)
        out.update(cpu_percent=cpu, gain_share=share, cost_rel=rel,
                   norm_objective=share / (1.0 + rel),
                   hit_loss_points=100.0 * (ref.get("hit_rfc", math.nan) - hit))
        return out

    def derive_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        if df.empty:
            return df.assign(cpu_percent=[], gain_share=[], cost_rel=[], norm_objective=[],
                             hit_loss_points=[])
        return pd.DataFrame([self.derive(r) for r in df.to_dict("records")], index=df.index)


def constraint_values(per_workload: Mapping[str, Mapping[str, float]],
                      bounds: Mapping[str, float]) -> dict[str, float]:
    """Optuna constraint values (<= 0 feasible) from per-workload means of
    ``hit_loss_points`` and ``cpu_percent``."""
    out = {}
    if "max_hit_loss_points" in bounds:
        worst = max(float(v["hit_loss_points"]) for v in per_workload.values())
        out["max_hit_loss_points"] = worst - float(bounds["max_hit_loss_points"])
    if "max_cpu_percent" in bounds:
        worst = max(float(v["cpu_percent"]) for v in per_workload.values())
        out["max_cpu_percent"] = worst - float(bounds["max_cpu_percent"])
    return {k: (v if math.isfinite(v) else 1e9) for k, v in out.items()}


def feasible(constraints: Mapping[str, float]) -> bool:
    return all(v <= 0 for v in constraints.values())


def knee(points: pd.DataFrame, x: str = "cost_rel", y: str = "gain_share") -> int | None:
    """The knee of a front (x to minimize, y to maximize): the point farthest
    from the straight line between the front's two ends, both axes scaled to
    [0, 1]. Returns its index label (None for an empty frame)."""
    if points.empty:
        return None
    p = points.sort_values(x)
    xs, ys = p[x].to_numpy(float), p[y].to_numpy(float)
    if len(p) < 3:
        return p.index[int(ys.argmax())]
    xn = (xs - xs.min()) / max(xs.max() - xs.min(), 1e-12)
    yn = (ys - ys.min()) / max(ys.max() - ys.min(), 1e-12)
    # Distance to the chord from (xn[0], yn[0]) to (xn[-1], yn[-1]).
    dx, dy = xn[-1] - xn[0], yn[-1] - yn[0]
    d = abs(dy * (xn - xn[0]) - dx * (yn - yn[0])) / max(math.hypot(dx, dy), 1e-12)
    return p.index[int(d.argmax())]


def front(points: pd.DataFrame, x: str = "cost_rel", y: str = "gain_share") -> pd.DataFrame:
    """The non-dominated points (x lower, y higher is better), sorted by x."""
    p = points.sort_values([x, y], ascending=[True, False])
    keep, best = [], -math.inf
    for i, yv in zip(p.index, p[y], strict=True):
        if yv > best:
            keep.append(i)
            best = yv
    return p.loc[keep]
