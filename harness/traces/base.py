"""Shared types of the trace readers: options, sparse accumulation, the result.

Every reader turns a trace into sparse triplets per process:
(window index, page number, access count). Page numbers are addresses
divided by the page size (or opaque page ids for columnar traces). The
result, ``TraceCounts``, compacts each process's distinct pages (sorted by
page number) into columns 0..n-1, so the footprint is the touched pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.errors import InputError

# Refuse dense arrays above this many cells (windows x pages, all processes):
# the model keeps them in memory. A larger window_ms shrinks them.
MAX_CELLS = 1 << 29

# Merge a process's pending triplets once it holds this many, or twice as
# many as after its last merge (so merging stays linear overall).
COMPACT_AT = 1 << 21

FORMATS = ("lackey", "columnar", "damon")


@dataclass(frozen=True)
class ReaderOptions:
    """Everything that changes the converted counts (and so the cache key)."""

    page_bytes: int = 4096
    window_ms: int = 1000
    instructions_per_s: float = 1.0e9
    skip_bad_lines: bool = False

    def key(self) -> dict:
        return dict(page_bytes=self.page_bytes, window_ms=self.window_ms,
                    instructions_per_s=float(self.instructions_per_s),
                    skip_bad_lines=bool(self.skip_bad_lines))


@dataclass
class SparseProcess:
    """Aggregated counts of one process: unique (window, page) pairs."""

    pid: int
    window: np.ndarray  # int64
    page: np.ndarray  # uint64 page numbers
    count: np.ndarray  # int64, > 0


def _aggregate(w: np.ndarray, p: np.ndarray, c: np.ndarray | None):
    """Sum counts of equal (window, page) pairs; returns sorted unique pairs."""
    if len(w) == 0:
        return (np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64))
    w = w.astype(np.int64, copy=False)
    p = p.astype(np.uint64, copy=False)
    wmax = int(w.max())
    if int(w.min()) >= 0 and wmax < (1 << 23) and int(p.max()) < (1 << 40):
        key = (w.astype(np.uint64) << np.uint64(40)) | p
        if c is None:
            uk, cnt = np.unique(key, return_counts=True)
            cnt = cnt.astype(np.int64)
        else:
            order = np.argsort(key, kind="stable")
            ks = key[order]
            first = np.flatnonzero(np.concatenate(([True], ks[1:] != ks[:-1])))
            uk = ks[first]
            cnt = np.add.reduceat(c.astype(np.int64, copy=False)[order], first)
        return ((uk >> np.uint64(40)).astype(np.int64), uk & np.uint64((1 << 40) - 1), cnt)
    order = np.lexsort((p, w))
    ws, ps = w[order], p[order]
    first = np.flatnonzero(np.concatenate(([True], (ws[1:] != ws[:-1]) | (ps[1:] != ps[:-1]))))
    cs = np.ones(len(w), np.int64) if c is None else c.astype(np.int64, copy=False)[order]
    return ws[first], ps[first], np.add.reduceat(cs, first)


class Accumulator:
    """Collects (window, page, count) per process; memory bounded by distinct pairs."""

    def __init__(self) -> None:
        self._parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._held: dict[int, int] = {}
        self._limit: dict[int, int] = {}
        self.accesses = 0

    def add(self, pid: int, window: np.ndarray, page: np.ndarray,
            count: np.ndarray | None = None) -> None:
        if len(window) == 0:
            return
        self.accesses += len(window) if count is None else int(count.sum())
        part = _aggregate(window, page, count)
        self._parts.setdefault(pid, []).append(part)
        self._held[pid] = self._held.get(pid, 0) + len(part[0])
        if self._held[pid] > self._limit.get(pid, COMPACT_AT) and len(self._parts[pid]) > 1:
            self._compact(pid)
            self._limit[pid] = max(COMPACT_AT, 2 * self._held[pid])

    def _compact(self, pid: int) -> None:
        parts = self._parts[pid]
        merged = _aggregate(np.concatenate([x[0] for x in parts]),
                            np.concatenate([x[1] for x in parts]),
                            np.concatenate([x[2] for x in parts]))
        self._parts[pid] = [merged]
        self._held[pid] = len(merged[0])

    def result(self) -> list[SparseProcess]:
        out = []
        for pid in sorted(self._parts):
            if len(self._parts[pid]) > 1:
                self._compact(pid)
            w, p, c = self._parts[pid][0]
            out.append(SparseProcess(pid, w, p, c))
        return out


@dataclass
class TraceCounts:
    """A trace as the model's counts workload.

    ``per_process[i]`` is a (windows, pages) integer array of access counts;
    column j is page number ``page_numbers[i][j]`` (address // page_size).
    All processes share the same windows of ``window_ms``.
    """

    path: str
    format: str
    window_ms: int
    page_size: int
    pids: list[int]
    per_process: list[np.ndarray]
    page_numbers: list[np.ndarray]
    stats: dict = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        return int(self.per_process[0].shape[0]) if self.per_process else 0

    @property
    def n_pages(self) -> int:
        return int(sum(a.shape[1] for a in self.per_process))

    @property
    def footprint_bytes(self) -> int:
        return self.n_pages * self.page_size

    @property
    def first_page_address(self) -> list[int]:
        return [int(p[0]) * self.page_size if len(p) else 0 for p in self.page_numbers]

    @property
    def accesses(self) -> int:
        return int(sum(int(a.sum()) for a in self.per_process))


def densify(path: str, fmt: str, procs: list[SparseProcess], n_windows: int,
            opts: ReaderOptions, stats: dict) -> TraceCounts:
    """Sparse triplets -> dense per-process arrays with compacted page columns."""
    procs = [sp for sp in procs if len(sp.count)]
    if not procs:
        raise InputError(f"{path}: the trace has no memory accesses")
    n_windows = max(n_windows, max(int(sp.window.max()) + 1 for sp in procs))
    pages = [np.unique(sp.page) for sp in procs]
    cells = n_windows * sum(len(p) for p in pages)
    if cells > MAX_CELLS:
        raise InputError(
            f"{path}: {n_windows} windows x {sum(len(p) for p in pages)} pages is too large "
            f"for the model ({cells} cells > {MAX_CELLS}); use a larger window_ms")
    big = max(int(sp.count.max()) for sp in procs) >= (1 << 31)
    dtype = np.int64 if big else np.int32
    arrays = []
    for sp, pg in zip(procs, pages, strict=True):
        dense = np.zeros((n_windows, len(pg)), dtype=dtype)
        dense[sp.window, np.searchsorted(pg, sp.page)] = sp.count
        arrays.append(dense)
    return TraceCounts(path=path, format=fmt, window_ms=opts.window_ms,
                       page_size=opts.page_bytes, pids=[sp.pid for sp in procs],
                       per_process=arrays, page_numbers=pages, stats=stats)
