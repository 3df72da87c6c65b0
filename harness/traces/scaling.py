"""Real-program traces scaled up to a production footprint.

A traced program touches a few MiB; the machines the scanner is tuned for
hold tens of GiB a process. ``scale_to_gb`` stretches the trace: each
traced page stands for a run of k consecutive pages, and every access to
the traced page is an access to each page of its run (the run is one object
k pages long, read or written whole whenever the traced page was touched).
Per page and window, the counts are the traced page's own, so:

* the hot-set share (accesses on the hottest f of the pages) is the
  original's for every f: the runs of the hottest traced pages are the
  hottest pages, in the same proportion;
* the reuse distance (distinct pages touched between two uses of a page) is
  k times the original's: measured in units of k pages its histogram is the
  original's.

A scaled trace loops: window w of the run plays window w mod W of the W
traced windows (a production run repeats the work the trace holds once),
so a 50 s trace fills a 300 s run. What scaling cannot preserve: the
structure inside a run (a real 16 GiB program's pages of one object are not
all touched together, so a scan sees all or none of a run's A bits), and
the footprint's growth (the program's working set at production size is the
traced one magnified, not a different algorithm's).
"""

from __future__ import annotations

import math

import numpy as np

GIB = 1 << 30


def run_length(trace_pages: int, page_bytes: int, scale_to_gb: float) -> int:
    """k: pages each traced page stands for, the run footprint nearest to
    scale_to_gb (at least 1)."""
    target = scale_to_gb * GIB / page_bytes
    return max(1, int(round(target / max(trace_pages, 1))))


def scale_counts(counts: np.ndarray, k: int) -> np.ndarray:
    """The scaled counts (windows x pages x k): each page's column repeated
    for the k pages of its run (small traces and tests; the model uses
    ``ScaledTrace``, which never builds this array)."""
    return np.repeat(np.asarray(counts), k, axis=1)


class ScaledTrace:
    """Per-window access rates of one scaled process, for the rate-form model."""

    def __init__(self, counts: np.ndarray, k: int, window_us: int):
        self.counts = np.asarray(counts)
        self.k = int(k)
        self.n = self.counts.shape[1] * self.k
        self.step_us = int(window_us)
        self.windows = self.counts.shape[0]

    def rates(self, phase: int) -> np.ndarray:
        row = self.counts[phase % self.windows].astype(np.float64) * (1e6 / self.step_us)
        return np.repeat(row, self.k)


# ------------------------------------------------------------- measurements


def hot_share(counts: np.ndarray, fraction: float) -> float:
    """Share of all accesses on the hottest `fraction` of the pages, the
    page at the boundary counted in part (so a run of k equal pages counts
    exactly as its traced page)."""
    per_page = np.sort(np.asarray(counts).sum(axis=0))[::-1].astype(np.float64)
    total = per_page.sum()
    if total == 0:
        return 0.0
    x = fraction * len(per_page)
    whole = int(math.floor(x))
    part = per_page[whole] * (x - whole) if whole < len(per_page) else 0.0
    return float((per_page[:whole].sum() + part) / total)


def reuse_distances(counts: np.ndarray) -> np.ndarray:
    """Reuse distance of every reuse at window grain: for a page touched in
    window w and last before in window v < w, the distinct pages touched in
    windows v..w (the page included). One value per (window, page) reuse;
    first touches have none. Loops over windows, not pages."""
    touched = np.asarray(counts) > 0
    n_win, n = touched.shape
    last = np.full(n, -1, dtype=np.int64)
    out = []
    for w in range(n_win):
        pages = np.flatnonzero(touched[w])
        prev = last[pages]
        reuse = prev >= 0
        for v in np.unique(prev[reuse]):  # per earlier window, not per page
            distinct = int(touched[v:w + 1].any(axis=0).sum())
            out.append(np.full(int((prev == v).sum()), distinct, dtype=np.int64))
        last[pages] = w
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def reuse_histogram(counts: np.ndarray, unit: int = 1, bins: int = 24) -> np.ndarray:
    """Share of reuses per power-of-two bin of the reuse distance in units of
    `unit` pages (bin b holds distances in [2^b, 2^(b+1)))."""
    d = reuse_distances(counts) / unit
    if len(d) == 0:
        return np.zeros(bins)
    b = np.clip(np.floor(np.log2(np.maximum(d, 1))).astype(np.int64), 0, bins - 1)
    return np.bincount(b, minlength=bins) / len(d)
