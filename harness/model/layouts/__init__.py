"""Workloads derived from real algorithms' data layouts (docs/workloads.md).

Each generator lays one process's pages out as the algorithm's arrays (a
CSR graph, a key-value store's hash table and slab log, a column store and
its B-tree index) and returns, per phase, the access rate of every page: the
accesses the algorithm makes to each array in that stretch of time, spread
over the array's pages by the algorithm's own order (streamed, random by
degree or popularity, rotating with a log head). Everything is vectorized
over pages; a phase's rates depend only on (seed, entry, process, phase), so
phases can be generated lazily and in any order, as the synthetic kinds are.

A generator object has ``step_us`` (the phase length; 0 = one phase) and
``rates(k)`` (the per-page rates of phase k, summing to at most
``access_rate``).
"""

from __future__ import annotations

from harness.model.layouts.analytic import ColumnStore
from harness.model.layouts.graph import PageRankCSR
from harness.model.layouts.kvcache import KVCache

GENERATORS = {"graph": PageRankCSR, "kvcache": KVCache, "analytic": ColumnStore}
LAYOUT_KINDS = tuple(GENERATORS)

__all__ = ["GENERATORS", "LAYOUT_KINDS", "make_generator"]


def make_generator(w, n: int, seed: int, index: int, process: int, page_bytes: int = 4096):
    """The generator of one process of n pages of a layout-kind workload entry."""
    return GENERATORS[w.kind](w, n, seed, index, process, page_bytes)
