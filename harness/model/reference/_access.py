"""Reference twins of the access models: one page at a time."""

from __future__ import annotations

import numpy as np

from harness.model.access import INF, CountsAccess, RateAccess


class ReferenceRateAccess(RateAccess):
    """Poisson pages: the time of the first access after the last A-bit clear."""

    def _draw_one(self, t: float, i: int) -> float:
        """One exponential draw: t + Exp(1) / rate (never, for a zero rate)."""
        e = self.stream.standard_exponential()
        rate = float(self.rate[i])
        if rate <= 0:
            return INF
        return t + e * (1e6 / rate)

    def set_rates(self, t: int, rates: np.ndarray) -> None:
        self.rate = np.array(rates, dtype=np.float64)
        for i in range(self.n):
            # Not accessed since the last clear: redraw under the new rate.
            if self.next_access[i] > t:
                self.next_access[i] = self._draw_one(t, i)

    def test_and_clear(self, lo: int, hi: int, t: int) -> np.ndarray:
        accessed = np.zeros(hi - lo, dtype=bool)
        for i in range(lo, hi):
            if self.next_access[i] <= t:
                accessed[i - lo] = True
                self.next_access[i] = self._draw_one(t, i)  # next access after the clear
        return accessed

    def test_and_clear_pages(self, idx: np.ndarray, t: int) -> np.ndarray:
        accessed = np.zeros(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            if self.next_access[i] <= t:
                accessed[j] = True
                self.next_access[i] = self._draw_one(t, int(i))
        return accessed

    def peek(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self.next_access[i] <= t for i in idx], dtype=bool)

    def next_access_after(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self._draw_one(t, int(i)) for i in idx], dtype=np.float64)


class ReferenceCountsAccess(CountsAccess):
    """Exact counts: access j (0-based) of c in a window [t_k, t_k + W) happens
    at t_k + (j + 1/2) W / c."""

    def _done_in_window(self, i: int, t: int) -> int:
        """Accesses of page i in the current window at or before t."""
        c = int(self.count[i])
        # (j + 1/2) W / c <= t - t_k  <=>  j < (2 (t - t_k) c + W) / (2 W)
        done = (2 * (int(t) - self.win_start) * c + self.window_us) // (2 * self.window_us)
        return min(done, c)

    def _accessed_by(self, i: int, t: int) -> int:
        return int(self.cum_base[i]) + self._done_in_window(i, t)

    def set_window(self, t: int, k: int) -> None:
        if self.win_index >= 0 or self.count.any():
            base = np.zeros(self.n, dtype=np.int64)
            for i in range(self.n):
                base[i] = self._accessed_by(i, t)
            self.cum_base = base
        self.win_start = int(t)
        self.win_index = k
        count = np.zeros(self.n, dtype=np.int64)
        if 0 <= k < len(self.windows):
            for i in range(self.n):
                count[i] = int(self.windows[k, i])
        self.count = count

    def test_and_clear(self, lo: int, hi: int, t: int) -> np.ndarray:
        accessed = np.zeros(hi - lo, dtype=bool)
        for i in range(lo, hi):
            now = self._accessed_by(i, t)
            accessed[i - lo] = now > self.at_clear[i]
            self.at_clear[i] = now
        return accessed

    def test_and_clear_pages(self, idx: np.ndarray, t: int) -> np.ndarray:
        accessed = np.zeros(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            now = self._accessed_by(int(i), t)
            accessed[j] = now > self.at_clear[i]
            self.at_clear[i] = now
        return accessed

    def peek(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self._accessed_by(int(i), t) > self.at_clear[i] for i in idx],
                        dtype=bool)

    def _next_one(self, i: int, t: int) -> float:
        W = self.window_us
        c = int(self.count[i])
        j = self._done_in_window(i, t)
        if j < c:
            # Access j of this window, rounded up to a whole microsecond.
            return float(self.win_start + -(-(2 * j + 1) * W // (2 * c)))
        k = self.win_index + 1
        while 0 < k < len(self.windows):
            ck = int(self.windows[k, i])
            if ck > 0:  # first access of a later window
                start = self.win_start + (k - self.win_index) * W
                return float(start + -(-W // (2 * ck)))
            k += 1
        return INF

    def next_access_after(self, idx: np.ndarray, t: int) -> np.ndarray:
        return np.array([self._next_one(int(i), int(t)) for i in idx], dtype=np.float64)


def _as_reference(access):
    cls = {RateAccess: ReferenceRateAccess, CountsAccess: ReferenceCountsAccess}[type(access)]
    ref = cls.__new__(cls)
    ref.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                         for k, v in access.__dict__.items()})
    return ref
