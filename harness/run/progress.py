"""Progress of a driver: tqdm on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import math
import sys
import time


def progress_bar(total: int, initial: int, desc: str, enabled: bool, unit: str = "eval"):
    """tqdm on a terminal; elsewhere (ray job logs, CI) one plain line every 15 s."""
    if enabled and not sys.stderr.isatty():
        return _LogProgress(total, initial, desc, unit)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, mininterval=0.5, smoothing=0.3)


class _LogProgress:
    """The tqdm calls the drivers use, as occasional log lines with done/total and ETA."""

    def __init__(self, total: int, initial: int, desc: str, unit: str, every_s: float = 15.0):
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.start_n, self.t0 = initial, time.monotonic()
        self.every_s, self.last = every_s, self.t0
        self.postfix = ""
        self.first_t: float | None = None
        self.first_n = initial

    def _line(self) -> str:
        now = time.monotonic()
        el = now - self.t0
        # The rate from the first unit done on: the time before it is Ray's start
        # and the workers' first imports, not a unit's cost (counted, it made an
        # early ETA twice the real remaining time).
        done = self.n - self.first_n if self.first_t is not None else 0
        span = now - self.first_t if done else 0.0
        if done and span < 1.0:
            # Units told together (a generation of trials): the rate since the bar's
            # start, not the moment between them.
            done, span = self.n - self.start_n, el
        eta = (self.total - self.n) * span / done if done else float("nan")
        eta_s = f"{eta:.0f} s" if math.isfinite(eta) else "?"
        post = f", {self.postfix}" if self.postfix else ""
        return (f"{self.desc}: {self.n}/{self.total} {self.unit}s, {el:.0f} s elapsed, "
                f"ETA {eta_s}{post}")

    def update(self, k: int = 1) -> None:
        if self.first_t is None:
            self.first_t, self.first_n = time.monotonic(), self.n + k
        self.n += k
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            print(self._line(), file=sys.stderr, flush=True)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def write(self, text: str, file=None) -> None:
        print(text, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.n > self.start_n:
            print(self._line(), file=sys.stderr, flush=True)
