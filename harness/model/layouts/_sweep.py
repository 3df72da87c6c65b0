"""Shared arithmetic of the layout generators: how much of each page a
sweep covers during one phase, on a circle of progress (one lap = one pass
of the algorithm over the array)."""

from __future__ import annotations

import numpy as np


def lap_cover(bounds: np.ndarray, a: float, b: float) -> np.ndarray:
    """Share of each page's stretch of a lap that the sweep passes through
    while its progress goes from a to b (laps, a <= b; b - a may exceed 1).

    ``bounds`` (m + 1 values from 0 to 1, increasing: every page has a
    stretch) is where each page's stretch starts and ends in the lap. Exact
    for any a, b: the overlap of
    [l, r) with the periodic interval is F(b) - F(a), with
    F(y) = floor(y) (r - l) + clip(frac(y) - l, 0, r - l). A sweep shorter
    than a lap touches one or two runs of pages: only those are computed."""
    if b - a < 1.0:
        return _short_cover(bounds, a, b)
    return _cover(bounds, a, b)


def _short_cover(bounds: np.ndarray, a: float, b: float) -> np.ndarray:
    """lap_cover for b - a < 1: the pages overlapping [a, b) mod 1 (found by
    binary search on the bounds), the rest 0."""
    out = np.zeros(len(bounds) - 1)
    shift = np.floor(a)
    a, b = a - shift, b - shift
    for lo_x, hi_x in ((a, min(b, 1.0)), (0.0, b - 1.0)):
        if hi_x <= lo_x:
            continue
        i = max(int(np.searchsorted(bounds, lo_x, side="right")) - 1, 0)
        j = min(int(np.searchsorted(bounds, hi_x, side="left")) + 1, len(out))
        part = bounds[i:j + 1]
        out[i:j] += _cover(part, lo_x, hi_x)
    return out


def _cover(bounds: np.ndarray, a: float, b: float) -> np.ndarray:
    lo, hi = bounds[:-1], bounds[1:]
    width = hi - lo

    def F(y: float) -> np.ndarray:
        whole, frac = np.floor(y), y - np.floor(y)
        return whole * width + np.clip(frac - lo, 0.0, width)

    return (F(b) - F(a)) / width


def uniform_bounds(m: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, m + 1)


def zipf_weights(m: int, s: float) -> np.ndarray:
    """Zipf(s) weights of ranks 1..m, summing to 1."""
    w = np.arange(1, m + 1, dtype=np.float64) ** -s
    return w / w.sum()
