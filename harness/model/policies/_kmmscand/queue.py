"""The migration list between kmmscand's scanner and its migration thread."""

from __future__ import annotations

import numpy as np


class EntryQueue:
    """The migration list: page indices in FIFO order, kept as numpy chunks.

    Each chunk carries the id of the scanner visit that queued it. One visit
    scans a page at most once, so entries that all come from one visit are
    distinct pages, which lets a migration pass skip duplicate handling.
    """

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.tags: list[int] = []
        self.head = 0  # entries of chunks[0] already consumed
        self.length = 0

    def push(self, pages: np.ndarray, tag: int = -1) -> None:
        """Append entries; tag: the scanner visit that found them (-1: unknown)."""
        if len(pages):
            self.chunks.append(np.asarray(pages, dtype=np.int64))
            self.tags.append(tag)
            self.length += len(pages)

    def peek(self, m: int) -> tuple[np.ndarray, bool]:
        """The first m entries, and whether they are certainly distinct pages."""
        out, got, tags = [], 0, set()
        for i, c in enumerate(self.chunks):
            c = c[self.head:] if i == 0 else c
            out.append(c[: m - got])
            tags.add(self.tags[i])
            got += len(out[-1])
            if got >= m:
                break
        if not out:
            return np.zeros(0, dtype=np.int64), True
        unique = len(tags) == 1 and -1 not in tags
        return (out[0] if len(out) == 1 else np.concatenate(out)), unique

    def consume(self, k: int) -> None:
        """Remove the first k entries."""
        self.length -= k
        while k > 0:
            avail = len(self.chunks[0]) - self.head
            if k >= avail:
                self.chunks.pop(0)
                self.tags.pop(0)
                self.head = 0
                k -= avail
            else:
                self.head += k
                k = 0

    def drop_range(self, lo: int, hi: int) -> np.ndarray:
        """Remove the entries of pages [lo, hi) (an exiting mm); return them."""
        dropped, kept, tags = [], [], []
        for i, c in enumerate(self.chunks):
            c = c[self.head:] if i == 0 else c
            inside = (c >= lo) & (c < hi)
            dropped.append(c[inside])
            if not inside.all():
                kept.append(c[~inside])
                tags.append(self.tags[i])
        self.chunks, self.tags, self.head = kept, tags, 0
        self.length = sum(len(c) for c in kept)
        return np.concatenate(dropped) if dropped else np.zeros(0, dtype=np.int64)
