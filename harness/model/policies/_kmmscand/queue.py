"""The migration list between kmmscand's scanner and its migration thread."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from harness.model.metrics import ENTRY_BYTES

if TYPE_CHECKING:
    from harness.model.counters import Counters
    from harness.model.policies._kmmscand.slab import EntrySlab


class EntryQueue:
    """The migration list: page indices in FIFO order in one int32 ring buffer.

    Entries are numbered in push order from 0; the live ones are ``lo`` to
    ``hi`` (exclusive), entry i at ``buf[(i - base) % len(buf)]``. What the
    scanner splices onto the list at once (one VMA's entries) is a piece,
    with the time it becomes visible to the migration thread (us, the end of
    that VMA's walk). Pieces are spliced in time order, so visible times
    never decrease along the list. ``ends`` holds where each piece ends (an
    entry number), ``visible`` its time. The ring reuses its memory (a new
    array's pages fault in on the first write; a list that grows and shrinks
    by millions of entries would keep paying that) and a peek over several
    pieces is a view, not a concatenation, except where it wraps around the
    buffer's end. It grows by half when a push does not fit.

    De-duplication (the ``dedup`` knob): a page already on the list is not
    queued again; its queued bit clears when its entry is processed (or dropped).

    With a ``slab`` (slab.py), every entry is a kzalloc'd object on a node:
    push allocates (an entry that gets none is not queued), consume and
    drop_range free.
    """

    def __init__(self, n_pages: int = 0, dedup: bool = False, counters: Counters | None = None,
                 slab: EntrySlab | None = None):
        if n_pages >= 2**31:
            raise ValueError("page indices must fit int32")
        self.buf = np.empty(0, dtype=np.int32)
        self.base = 0             # the entry number at buf[0] (modulo its length)
        self.lo = self.hi = 0     # the live entries' numbers: [lo, hi)
        self.ends: deque[int] = deque()       # each piece's end (entry number)
        self.visible: deque[float] = deque()  # each piece's visible time (us)
        self.length = 0
        self.peak = 0  # the longest the list has been (entries)
        self.queued = np.zeros(n_pages, dtype=bool) if dedup else None
        self.counters = counters
        self.slab = slab
        self.entry_bytes = slab.size if slab is not None else ENTRY_BYTES
        self._one_end = np.zeros(1, dtype=np.int64)  # a one-piece peek's piece_end
        self._one_vis = np.zeros(1)

    @property
    def bytes(self) -> int:
        """Memory the entries hold (kmalloc slab objects)."""
        return self.length * self.entry_bytes

    def _slice(self, a: int, b: int) -> np.ndarray:
        """Entries a to b (numbers, live, b - a <= the buffer): a view unless
        they wrap around the buffer's end."""
        cap = len(self.buf)
        i = (a - self.base) % cap
        j = i + (b - a)
        if j <= cap:
            return self.buf[i:j]
        return np.concatenate([self.buf[i:], self.buf[:j - cap]])

    def _grow(self, k: int) -> None:
        """Room for k more entries: a buffer half as long again (at least the
        live entries and k), the live entries copied to its start."""
        cap = len(self.buf)
        live = self.hi - self.lo
        new = np.empty(max(cap + cap // 2, live + k, 1024), dtype=np.int32)
        if live:
            new[:live] = self._slice(self.lo, self.hi)
        self.buf, self.base = new, self.lo

    def push(self, pages: np.ndarray, visible_at_us: float = 0.0) -> np.ndarray:
        """Append entries (distinct pages) that become visible to the migration
        thread at visible_at_us. With de-duplication, pages already on the list
        are left out. Returns the pages queued."""
        pages = np.asarray(pages)
        if self.queued is not None and len(pages):
            pages = pages[~self.queued[pages]]
        if self.slab is not None and len(pages):
            pages = pages[:self.slab.alloc(len(pages))]
        k = len(pages)
        if self.queued is not None and k:
            self.queued[pages] = True
        if k:
            # Behind a piece not visible yet, an entry is not reached earlier.
            vis = float(visible_at_us)
            if self.visible and self.visible[-1] > vis:
                vis = self.visible[-1]
            if self.length + k > len(self.buf):
                self._grow(k)
            buf, cap, hi = self.buf, len(self.buf), self.hi
            i = (hi - self.base) % cap
            if i + k <= cap:
                buf[i:i + k] = pages
            else:  # wraps around the buffer's end
                buf[i:] = pages[:cap - i]
                buf[:k - (cap - i)] = pages[cap - i:]
            self.hi = hi = hi + k
            self.ends.append(hi)
            self.visible.append(vis)
            self.length += k
            if self.length > self.peak:
                self.peak = self.length
                if self.counters is not None:
                    self.counters.queue_len_peak = self.peak
        return pages

    def head_visible_at(self) -> float:
        """When the entry at the head of the list is visible (inf: empty list)."""
        return self.visible[0] if self.length else float("inf")

    def visible_count(self, t_us: float, limit: int) -> int:
        """Entries from the head that are visible at t_us (at most limit)."""
        if not self.length or self.visible[0] > t_us:
            return 0
        lo = self.lo
        if self.ends[0] - lo >= limit:
            return limit  # the head piece alone has them: the usual case, without the loop
        end = lo
        for e, v in zip(self.ends, self.visible, strict=True):
            if v > t_us or end - lo >= limit:
                break
            end = e
        return min(end - lo, limit)

    def peek(self, m: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """m entries after the first `skip`, and the time each is visible."""
        pages, ends, vis = self.peek_pieces(m, skip)
        return pages, np.repeat(vis, np.diff(ends, prepend=0))

    def peek_pieces(self, m: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """m entries after the first `skip` in pieces of equal visible time: the
        entries (a view of the list where it can, valid until the next push or
        drop), where each piece ends (entries before piece_end[j] are in pieces
        up to j) and when each piece is visible."""
        a = self.lo + skip
        b = min(a + max(m, 0), self.hi)
        if a >= b:
            return self.buf[:0], np.zeros(0, dtype=np.int64), np.zeros(0)
        pages = self._slice(a, b)
        ends = self.ends
        if ends[0] >= b:  # all in the head piece: the usual case, without the loop
            self._one_end[0] = b - a
            self._one_vis[0] = self.visible[0]
            return pages, self._one_end, self._one_vis
        out_end, out_vis = [], []
        for e, v in zip(ends, self.visible, strict=True):
            if e <= a:
                continue
            out_end.append(min(e, b) - a)
            out_vis.append(v)
            if e >= b:
                break
        return pages, np.array(out_end, dtype=np.int64), np.array(out_vis, dtype=np.float64)

    def consume(self, k: int) -> None:
        """Remove the first k entries (processed): their pages may be queued again."""
        if k <= 0:
            return
        self.length -= k
        if self.slab is not None:
            self.slab.release(k)
        lo = self.lo
        if self.queued is not None:
            self.queued[self._slice(lo, lo + k)] = False
        self.lo = lo = lo + k
        ends = self.ends
        while ends and ends[0] <= lo:
            ends.popleft()
            self.visible.popleft()

    def drop_range(self, lo: int, hi: int) -> np.ndarray:
        """Remove the entries of pages [lo, hi) (an exiting mm); return them."""
        live = self._slice(self.lo, self.hi) if self.length else self.buf[:0]
        inside = (live >= lo) & (live < hi)
        out = live[inside]
        if self.slab is not None and self.length:
            self.slab.drop(~inside)
        # Pieces: the kept entries of each, empty pieces gone.
        bounds = np.array([self.lo, *self.ends], dtype=np.int64) - self.lo
        kept_before = np.concatenate([[0], np.cumsum(~inside)])[bounds]
        ends, visible = deque(), deque()
        for j, v in enumerate(self.visible):
            if kept_before[j + 1] > kept_before[j]:
                ends.append(int(kept_before[j + 1]))
                visible.append(v)
        kept = live[~inside]
        self.buf = kept.copy()
        self.base, self.lo, self.hi = 0, 0, len(kept)
        self.ends, self.visible = ends, visible
        self.length = len(kept)
        if self.queued is not None:
            self.queued[out] = False
        return out
