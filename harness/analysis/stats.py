"""Means over seeds with 95% intervals, and paired differences with a verdict.

Intervals are t-based (Student's t with n - 1 degrees of freedom over the
seeds): a run's seeds are few (3 to 5), too few for a bootstrap to reach its
nominal coverage, and a simulated metric's spread over seeds is close to
normal. A paired difference (the same workload and seed under two policies)
removes the workload's and the seed's share of the spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

LEVEL = 0.95
# The verdicts of a paired difference A - B, in the objective's direction.
BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the t interval of the mean; low and high are NaN
    with fewer than 2 finite values (no spread to estimate)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def group_ci(grouped) -> pd.DataFrame:
    """Per group of a pandas SeriesGroupBy: the 95% t interval of its mean,
    columns ``lo`` and ``hi`` (indexed like the groups)."""
    out = grouped.agg(lambda x: mean_ci(x.to_numpy())[1:])
    return pd.DataFrame(out.tolist(), index=out.index, columns=["lo", "hi"])


def format_ci(m: float, lo: float, hi: float, spec: str = ".3g") -> str:
    """``m [lo, hi]`` for a table; ``m`` alone without an interval, ``-`` without a
    mean, ``m deterministic`` when every seed gave the same value (a zero-width
    interval would look like certainty about the next run)."""
    if not math.isfinite(m):
        return "-"
    if not math.isfinite(lo):
        return format(m, spec)
    if hi - lo <= 1e-9 * max(1.0, abs(m)):  # every seed gave the same value
        return f"{m:{spec}} deterministic"
    return f"{m:{spec}} [{lo:{spec}}, {hi:{spec}}]"


def verdict(low: float, high: float, direction: str = "maximize") -> str:
    """A paired difference A - B: "better" only where its interval excludes 0."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return UNCLEAR
    sign = 1 if direction == "maximize" else -1
    lo, hi = sorted((sign * low, sign * high))
    if lo > 0:
        return BETTER
    if hi < 0:
        return WORSE
    return UNCLEAR


def paired(a: Sequence[float], b: Sequence[float], direction: str = "maximize",
           level: float = LEVEL) -> dict[str, float | str]:
    """A - B per pair (same workload and seed): mean, interval, verdict."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    m, lo, hi = mean_ci(d, level)
    return {"diff": m, "diff_lo": lo, "diff_hi": hi, "verdict": verdict(lo, hi, direction)}
