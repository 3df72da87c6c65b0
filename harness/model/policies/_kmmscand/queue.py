"""The migration list between kmmscand's scanner and its migration thread."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from harness.model.metrics import ENTRY_BYTES

if TYPE_CHECKING:
    from harness.model.counters import Counters
    from harness.model.policies._kmmscand.slab import EntrySlab


_NO_ENTRIES = np.zeros(0, dtype=np.int32)  # peek_two's empty second piece (never written)


class EntryQueue:
    """The migration list: page indices in FIFO order, kept as numpy chunks.

    A chunk is what the scanner splices onto the list at once (one VMA's
    entries): its pages (int32: V1 floods the list, so entries stay compact)
    and the time it becomes visible to the migration thread (us, the end of
    that VMA's walk). Chunks are spliced in time order, so visible times never
    decrease along the list.

    De-duplication (the ``dedup`` knob): a page already on the list is not
    queued again; its queued bit clears when its entry is processed (or dropped).

    With a ``slab`` (slab.py), every entry is a kzalloc'd object on a node:
    push allocates (an entry that gets none is not queued), consume and
    drop_range free.
    """

    def __init__(self, n_pages: int = 0, dedup: bool = False, counters: Counters | None = None,
                 slab: EntrySlab | None = None, entry_bytes: int = ENTRY_BYTES):
        if n_pages >= 2**31:
            raise ValueError("page indices must fit int32")
        self.chunks: deque[np.ndarray] = deque()
        self.visible: deque[float] = deque()
        self.head = 0  # entries of chunks[0] already consumed
        self.length = 0
        self.peak = 0  # the longest the list has been (entries)
        self.queued = np.zeros(n_pages, dtype=bool) if dedup else None
        self.counters = counters
        self.slab = slab
        self.entry_bytes = slab.size if slab is not None else entry_bytes  # an entry's object

    @property
    def bytes(self) -> int:
        """Memory the entries hold (kmalloc slab objects)."""
        return self.length * self.entry_bytes

    def push(self, pages: np.ndarray, visible_at_us: float = 0.0,
             owned: bool = False) -> np.ndarray:
        """Append entries (distinct pages) that become visible to the migration
        thread at visible_at_us. With de-duplication, pages already on the list
        are left out. Returns the pages queued. owned: the caller hands over
        the array `pages` views (it does not write to it again), so that the
        list may keep the view instead of a copy when it fills at least half
        of that array."""
        pages = np.asarray(pages)
        if self.queued is not None and len(pages):
            pages = pages[~self.queued[pages]]
        if self.slab is not None and len(pages):
            pages = pages[:self.slab.alloc(len(pages))]
        if self.queued is not None and len(pages):
            self.queued[pages] = True
        if len(pages):
            # Behind a chunk not visible yet, an entry is not reached earlier.
            vis = float(visible_at_us)
            if self.visible and self.visible[-1] > vis:
                vis = self.visible[-1]
            chunk = pages.astype(np.int32, copy=False)
            base = chunk.base
            if base is not None and not (owned and base.base is None and base.ndim == 1
                                         and 2 * len(chunk) >= len(base)):
                chunk = chunk.copy()  # a view would keep its whole buffer on the list
            self.chunks.append(chunk)
            self.visible.append(vis)
            self.length += len(pages)
            if self.length > self.peak:
                self.peak = self.length
                if self.counters is not None:
                    self.counters.queue_len_peak = self.peak
        return pages

    def peek(self, m: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """m entries after the first `skip`, and the time each is visible."""
        pages, ends, vis = self.peek_pieces(m, skip)
        return pages, np.repeat(vis, np.diff(ends, prepend=0))

    def peek_pieces(self, m: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """m entries after the first `skip` in pieces of equal visible time: the
        entries, where each piece ends (entries before piece_end[j] are in
        pieces up to j) and when each piece is visible."""
        skip += self.head
        if m > 0 and self.chunks and skip + m <= len(self.chunks[0]):
            # All in the head chunk: the usual case, without the loop and lists.
            return (self.chunks[0][skip:skip + m], np.array([m], dtype=np.int64),
                    np.array([self.visible[0]], dtype=np.float64))
        out, ends, vis, got = [], [], [], 0
        for c, v in zip(self.chunks, self.visible, strict=True):
            if got >= m:
                break
            if skip >= len(c):
                skip -= len(c)
                continue
            out.append(c[skip:skip + m - got])
            skip = 0
            got += len(out[-1])
            ends.append(got)
            vis.append(v)
        pages = (out[0] if len(out) == 1 else np.concatenate(out) if out
                 else np.zeros(0, dtype=np.int32))
        return pages, np.array(ends, dtype=np.int64), np.array(vis, dtype=np.float64)

    def peek_two(self, m: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray, float, float]:
        """peek_pieces cut after its second piece, without a copy: at most m
        entries after the first `skip` as the first piece's (a view) and the
        next piece's (a view, empty when the first has them all or there is
        no next piece), and when each is visible (us; 0.0 for an empty one)."""
        if m <= 0 or not self.chunks:
            return _NO_ENTRIES, _NO_ENTRIES, 0.0, 0.0
        chunks, visible = self.chunks, self.visible
        skip += self.head
        c = chunks[0]
        i = 0
        if skip >= len(c):  # past the head chunk: find the one it starts in
            n = len(chunks)
            while i < n and skip >= len(chunks[i]):
                skip -= len(chunks[i])
                i += 1
            if i == n:
                return _NO_ENTRIES, _NO_ENTRIES, 0.0, 0.0
            c = chunks[i]
        first = c[skip:skip + m]
        n1 = len(first)
        if n1 >= m or i + 1 >= len(chunks):
            return first, _NO_ENTRIES, visible[i], 0.0
        return first, chunks[i + 1][:m - n1], visible[i], visible[i + 1]

    def consume(self, k: int, freed: bool = False) -> None:
        """Remove the first k entries (processed): their pages may be queued
        again. freed: their slab objects were freed already (EntrySlab.release)."""
        self.length -= k
        if self.slab is not None:
            self.slab.release(k, freed)
        c = self.chunks[0] if self.chunks else None
        if c is not None and self.queued is None and self.head + k < len(c):
            self.head += k  # inside the head chunk: the usual case
            return
        while k > 0:
            c = self.chunks[0]
            avail = len(c) - self.head
            take = min(k, avail)
            if self.queued is not None:
                self.queued[c[self.head:self.head + take]] = False
            if take == avail:
                self.chunks.popleft()
                self.visible.popleft()
                self.head = 0
            else:
                self.head += take
            k -= take

    def drop_range(self, lo: int, hi: int) -> np.ndarray:
        """Remove the entries of pages [lo, hi) (an exiting mm); return them."""
        dropped, keep = [], []
        chunks, visible = deque(), deque()
        for i, (c, v) in enumerate(zip(self.chunks, self.visible, strict=True)):
            c = c[self.head:] if i == 0 else c
            inside = (c >= lo) & (c < hi)
            dropped.append(c[inside])
            keep.append(~inside)
            if not inside.all():
                chunks.append(c[~inside])
                visible.append(v)
        self.chunks, self.visible, self.head = chunks, visible, 0
        self.length = sum(len(c) for c in chunks)
        out = np.concatenate(dropped) if dropped else np.zeros(0, dtype=np.int32)
        if self.slab is not None and keep:
            self.slab.drop(np.concatenate(keep))
        if self.queued is not None:
            self.queued[out] = False
        return out
