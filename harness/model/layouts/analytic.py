"""An analytic database: column scans mixed with index lookups.

The layout of one process (docs/workloads.md):

    [B-tree: root | inner levels | leaves] [column 0] ... [column C-1]

* ``index``: index_share of the pages, a B-tree on the table's key with
  256 entries a 4 KiB node (16-byte key and row id): the leaves first sized
  so that leaves + inner levels fill the share, the root and inner levels
  in front of them;
* ``columns``: the rest in C equal column arrays (8-byte values, 512 rows a
  page; the table is stored in key order, so row page r of every column
  holds the same rows, the rows of leaf r x leaves / column pages). Pages
  left over by the division go to the index's leaves.

scan_share of the access_rate are scan accesses: queries one after another,
each reading one whole column from its first page to its last, 64 accesses
(cache lines) a 4 KiB page; query q's column is drawn from Zipf(1) over the
columns (popular columns scanned more) by a stream seeded with (seed,
entry, process, q). The scan cursor moves at scan accesses / 64 pages a
second, so phase k (move_every_s) covers a stretch of the query sequence
fixed by k alone.

The rest are index lookups: each reads one node per B-tree level (root to
leaf) and then its row in the 4 most popular columns. Lookup keys are
Zipf(zipf_s) over the row pages, hot pages scattered by a seeded
permutation; a leaf's and an inner node's popularity is the sum of the rows
below it, so the root is the hottest page and the leaves follow the keys.
"""

from __future__ import annotations

import numpy as np

from harness.model.layouts._sweep import zipf_weights

FANOUT = 256
LOOKUP_COLUMNS = 4


def btree_levels(leaves: int) -> list[int]:
    """Node count of each level, root first, for `leaves` leaves."""
    levels = [leaves]
    while levels[-1] > 1:
        levels.append(-(-levels[-1] // FANOUT))
    return levels[::-1]


def _index_pages(share_pages: int) -> list[int]:
    """Levels (root first) whose total is exactly share_pages (>= 1)."""
    leaves = max(1, share_pages - share_pages // (FANOUT - 1) - 1)
    while sum(btree_levels(leaves)) > share_pages and leaves > 1:
        leaves -= 1
    levels = btree_levels(leaves)
    levels[-1] += share_pages - sum(levels)  # pad the leaves to the share
    return levels


class ColumnStore:
    def __init__(self, w, n: int, seed: int, index: int, process: int, page: int = 4096):
        cols = int(w.columns)
        share = max(1, int(round(n * float(w.index_share))))
        cp = (n - share) // cols
        if cp < 1:
            raise ValueError(f"an analytic workload needs at least {cols + 1} pages a process")
        share = n - cols * cp
        self.levels = _index_pages(share)
        self.n, self.cols, self.cp, self.index_pages = n, cols, cp, share
        self.col_start = share + cp * np.arange(cols + 1, dtype=np.int64)
        self.seed = (seed, index, process)
        rate = float(w.access_rate)
        self.scan_rate = rate * float(w.scan_share)
        self.lines = page // 64  # a scan reads every cache line of a page
        self.scan_pages_per_s = self.scan_rate / self.lines
        depth = len(self.levels)
        self.lookups = (rate - self.scan_rate) / (depth + min(LOOKUP_COLUMNS, cols))
        rng = np.random.default_rng([seed, index, process, 0xC01])
        self.col_pop = zipf_weights(cols, 1.0)[rng.permutation(cols)]
        rows = zipf_weights(cp, float(w.zipf_s))[rng.permutation(cp)]
        self.row_pop = rows
        # Index node popularity: each level sums the level below it.
        r = np.zeros(n)
        lvl_rates = []
        leaves = self.levels[-1]
        below = np.add.reduceat(rows, (np.arange(leaves) * cp) // leaves) \
            if leaves <= cp else np.bincount(np.arange(cp) * leaves // cp, rows, leaves)
        lvl_rates.append(below)
        for m in self.levels[-2::-1]:
            below = np.add.reduceat(below, np.arange(m) * FANOUT)
            lvl_rates.append(below)
        self.base = r
        r[:share] = np.concatenate(lvl_rates[::-1]) * self.lookups
        top = np.argsort(-self.col_pop, kind="stable")[:LOOKUP_COLUMNS]
        for c in top:  # per column, not per page
            lo = self.col_start[c]
            r[lo:lo + cp] += rows * self.lookups
        self.lookup_columns = np.sort(top)
        self.step_us = int(round(float(w.move_every_s) * 1e6))
        self.step_s = float(w.move_every_s)

    def query_column(self, q: int) -> int:
        rng = np.random.default_rng([*self.seed, q, 0x5CA])
        return int(rng.choice(self.cols, p=self.col_pop))

    def rates(self, k: int) -> np.ndarray:
        r = self.base.copy()
        a = k * self.step_s * self.scan_pages_per_s   # scan cursor, pages of the query stream
        b = (k + 1) * self.step_s * self.scan_pages_per_s
        per = self.lines / self.step_s
        for q in range(int(a // self.cp), int(np.ceil(b / self.cp))):  # per query
            lo, hi = max(a, q * self.cp) - q * self.cp, min(b, (q + 1) * self.cp) - q * self.cp
            if hi <= lo:
                continue
            base = self.col_start[self.query_column(q)]
            # Pages [lo, hi) of the column, the partial ones in proportion.
            j0, j1 = int(np.floor(lo)), int(np.ceil(hi))
            j = np.arange(j0, j1)
            r[base + j0:base + j1] += (np.minimum(j + 1, hi) - np.maximum(j, lo)) * per
        return r
