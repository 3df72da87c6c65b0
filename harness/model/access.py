"""Accessed-bit models for one contiguous range of pages.

Two forms share one interface:

* ``RateAccess``: each page is a Poisson process with a per-phase rate. The
  state is the time of the first access after the last A-bit clear
  (``next_access``); by memorylessness it is redrawn only for pages found
  accessed and at phase changes.
* ``CountsAccess``: exact integer counts per page per window. The c accesses
  of a window of length W that starts at t_k happen at t_k + (j + 1/2) W / c,
  so the number of accesses up to t is known exactly, in integers.

Times are integer microseconds. Rates are accesses per second.
"""

from __future__ import annotations

import numpy as np

from harness.model.draws import Stream

INF = np.inf


class RateAccess:
    form = "rate"

    def __init__(self, n: int, stream: Stream):
        self.n = n
        self.stream = stream  # the exponential draws (kernels redraw from it too)
        self.rate = np.zeros(n)
        self.next_access = np.full(n, INF)

    def _draw(self, t: float, rates: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """t + Exp(1) x mean gap (1e6 / rate, us; computed here rather than
        kept: one array less per page), into `out` if given. Pages whose rate
        may be 0 go through _draw_safe: 0 x inf is NaN."""
        return self.stream.next_access(t, rates, out)

    def _draw_safe(self, t: float, rates: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.stream.next_access(t, rates, out, safe=True)

    def set_rates(self, t: int, rates: np.ndarray) -> None:
        """New rates from time t; pages not accessed since the last clear get a new draw."""
        self.rate = np.asarray(rates, dtype=np.float64)
        pending = self.next_access > t
        if pending.all():  # e.g. the first phase: no page accessed yet
            self._draw_safe(t, self.rate, out=self.next_access)  # in place: may be a view
            return
        pending = np.flatnonzero(pending)
        self.next_access[pending] = self._draw_safe(t, self.rate[pending])

    def test_and_clear(self, lo: int, hi: int, t: int) -> np.ndarray:
        accessed = np.zeros(hi - lo, dtype=bool)
        accessed[self.test_and_clear_idx(lo, hi, t)] = True
        return accessed

    def test_and_clear_idx(self, lo: int, hi: int, t: int) -> np.ndarray:
        """Offsets (from lo) of the pages found accessed; their bits are cleared."""
        na = self.next_access[lo:hi]
        idx = np.flatnonzero(na <= t)
        if len(idx):
            na[idx] = self._draw(t, self.rate[lo:hi][idx])
        return idx

    def test_and_clear_pages(self, idx: np.ndarray, t: int) -> np.ndarray:
        acc = self.next_access[idx] <= t
        hit = idx[acc]
        if len(hit):
            self.next_access[hit] = self._draw(t, self.rate[hit])
        return acc

    def peek(self, idx: np.ndarray, t: int) -> np.ndarray:
        return self.next_access[idx] <= t

    def peek_slice(self, lo: int, hi: int, t: int) -> np.ndarray:
        return self.next_access[lo:hi] <= t

    def next_access_after(self, idx: np.ndarray, t: int) -> np.ndarray:
        """Time of the first access after t (hint fault after PROT_NONE marking)."""
        return self._draw_safe(t, self.rate[idx])


class CountsAccess:
    form = "counts"

    def __init__(self, n: int, window_us: int, windows: np.ndarray):
        # windows: (n_windows, n) integer counts; window k starts at start + k * W.
        self.n = n
        self.window_us = int(window_us)
        self.windows = windows
        self.win_start = 0
        self.win_index = -1
        self.count = np.zeros(n, dtype=np.int64)
        self.cum_base = np.zeros(n, dtype=np.int64)
        self.at_clear = np.zeros(n, dtype=np.int64)

    @property
    def rate(self) -> np.ndarray:
        return self.count * (1e6 / self.window_us)

    def set_window(self, t: int, k: int) -> None:
        """Window k of the counts starts at t (k outside the array: no accesses)."""
        if self.win_index >= 0 or self.count.any():
            self.cum_base = self.accessed_by_slice(0, self.n, t)
        self.win_start = int(t)
        self.win_index = k
        if 0 <= k < len(self.windows):
            self.count = self.windows[k].astype(np.int64)
        else:
            self.count = np.zeros(self.n, dtype=np.int64)

    def accessed_by_slice(self, lo: int, hi: int, t: int) -> np.ndarray:
        c = self.count[lo:hi]
        done = (2 * (int(t) - self.win_start) * c + self.window_us) // (2 * self.window_us)
        return self.cum_base[lo:hi] + np.minimum(done, c)

    def accessed_by(self, idx: np.ndarray, t: int) -> np.ndarray:
        c = self.count[idx]
        done = (2 * (int(t) - self.win_start) * c + self.window_us) // (2 * self.window_us)
        return self.cum_base[idx] + np.minimum(done, c)

    def test_and_clear(self, lo: int, hi: int, t: int) -> np.ndarray:
        now = self.accessed_by_slice(lo, hi, t)
        accessed = now > self.at_clear[lo:hi]
        self.at_clear[lo:hi] = now
        return accessed

    def test_and_clear_idx(self, lo: int, hi: int, t: int) -> np.ndarray:
        return np.flatnonzero(self.test_and_clear(lo, hi, t))

    def test_and_clear_pages(self, idx: np.ndarray, t: int) -> np.ndarray:
        now = self.accessed_by(idx, t)
        acc = now > self.at_clear[idx]
        self.at_clear[idx] = now
        return acc

    def peek(self, idx: np.ndarray, t: int) -> np.ndarray:
        return self.accessed_by(idx, t) > self.at_clear[idx]

    def peek_slice(self, lo: int, hi: int, t: int) -> np.ndarray:
        return self.accessed_by_slice(lo, hi, t) > self.at_clear[lo:hi]

    def next_access_after(self, idx: np.ndarray, t: int) -> np.ndarray:
        """Exact time of the first access after t, searching later windows."""
        out = np.full(len(idx), INF)
        t = int(t)
        c = self.count[idx]
        j = self.accessed_by(idx, t) - self.cum_base[idx]  # accesses done in this window
        W = self.window_us
        here = j < c
        cj = np.maximum(c[here], 1)
        out[here] = self.win_start + (-(-(2 * j[here] + 1) * W // (2 * cj)))
        rest = np.flatnonzero(~here)
        k = self.win_index + 1
        while len(rest) and 0 < k < len(self.windows):
            ck = self.windows[k, idx[rest]].astype(np.int64)
            hit = ck > 0
            if hit.any():
                start = self.win_start + (k - self.win_index) * W
                out[rest[hit]] = start + (-(-W // (2 * ck[hit])))
            rest = rest[~hit]
            k += 1
        return out

