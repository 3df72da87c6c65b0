"""The accessed bits of all pages, by global page index, over the segments'
access models (access.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.model.core import EventCore
    from harness.model.runtime import ClosedLoop


class PageBits:
    """The accessed bits of all pages (global indices), over the segments'
    access models, read at the access models' clock: real time, or nominal
    work time in closed loop (see runtime.py)."""

    def __init__(self, segments: list, core: EventCore, loop: ClosedLoop | None):
        self.segments = segments  # each with .lo, .hi and .access (the model)
        self.seg_lo = np.array([s.lo for s in segments], dtype=np.int64)
        self.core = core
        self.loop = loop
        # When every segment's A bits are Poisson next-access times, one array
        # of them all (the segments' arrays become views of it), which the
        # compiled walks read directly: A set iff next_access <= work_now().
        self.next_access: np.ndarray | None = None
        contiguous = [s.lo for s in segments] == [0] + [s.hi for s in segments[:-1]]
        if segments and contiguous and all(s.access.form == "rate" for s in segments):
            # One segment: its own array (a concatenation would copy every page's).
            self.next_access = (segments[0].access.next_access if len(segments) == 1
                                else np.concatenate([s.access.next_access for s in segments]))
            for s in segments:
                s.access.next_access = self.next_access[s.lo:s.hi]

    def work_now(self):
        """The access models' clock now."""
        if self.loop is None:
            return self.core.now
        return self.loop.work_at(self.core.now)

    def segment_of(self, lo: int):
        """The segment that holds page lo."""
        if len(self.segments) == 1:
            return self.segments[0]
        return self.segments[int(np.searchsorted(self.seg_lo, lo, side="right") - 1)]

    def _segment_groups(self, pages: np.ndarray):
        if len(self.seg_lo) == 1:
            yield self.segments[0], slice(None)
            return
        seg = np.searchsorted(self.seg_lo, pages, side="right") - 1
        for i in np.unique(seg):
            yield self.segments[i], seg == i

    def test_and_clear(self, lo: int, hi: int) -> np.ndarray:
        """Test and clear the A bits of pages [lo, hi), all in one segment."""
        seg = self.segment_of(lo)
        return seg.access.test_and_clear(lo - seg.lo, hi - seg.lo, self.work_now())

    def test_and_clear_idx(self, lo: int, hi: int) -> np.ndarray:
        """As test_and_clear, but the offsets (from lo) of the accessed pages."""
        seg = self.segment_of(lo)
        return seg.access.test_and_clear_idx(lo - seg.lo, hi - seg.lo, self.work_now())

    def test_and_clear_pages(self, pages: np.ndarray) -> np.ndarray:
        """Test and clear the A bits of the given pages (ascending order)."""
        out = np.zeros(len(pages), dtype=bool)
        if len(pages) == 0:
            return out
        t = self.work_now()
        for seg, sel in self._segment_groups(pages):
            out[sel] = seg.access.test_and_clear_pages(pages[sel] - seg.lo, t)
        return out

    def peek_range(self, lo: int, hi: int) -> np.ndarray:
        """peek over the contiguous pages [lo, hi), which may span segments."""
        out = np.empty(hi - lo, dtype=bool)
        t = self.work_now()
        first = int(np.searchsorted(self.seg_lo, lo, side="right") - 1)
        for seg in self.segments[first:]:
            a, b = max(lo, seg.lo), min(hi, seg.hi)
            if a >= hi:
                break
            if a < b:
                out[a - lo:b - lo] = seg.access.peek_slice(a - seg.lo, b - seg.lo, t)
        return out

    def peek(self, pages: np.ndarray) -> np.ndarray:
        """A page is still hot (young) if accessed since its last A-bit clear."""
        out = np.zeros(len(pages), dtype=bool)
        for seg, sel in self._segment_groups(pages):
            out[sel] = seg.access.peek(pages[sel] - seg.lo, self.work_now())
        return out

    def next_access_after(self, pages: np.ndarray, t: int) -> np.ndarray:
        """Real time of each page's first access after real time t (inf: never)."""
        out = np.full(len(pages), np.inf)
        loop = self.loop
        tau = t if loop is None else loop.work_at(t)
        for seg, sel in self._segment_groups(pages):
            out[sel] = seg.access.next_access_after(pages[sel] - seg.lo, tau)
        if loop is not None:  # back to real time at the current speed
            out = loop.real_at(out)
        return out
