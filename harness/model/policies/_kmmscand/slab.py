"""The migration list's entries as slab memory on the nodes they were allocated on.

hot_vma_idle_pte_entry kzalloc()s one entry per queued page (kmalloc slab
objects) in the scanner thread's context, so the page allocator serves their
slab pages from the scanner's local node first and falls back along the
zonelist; the entries are kfree()d when the migration thread has processed
them (or the mm exits). Their pages count as used memory of those nodes, and
against the nodes' watermarks: a top-tier node full of entries has no free
pages above its high watermark for promotions.

Allocation as get_page_from_freelist over the zonelist: the first node whose
free pages are above its LOW watermark gives the slab page; if none, the
slow path (which wakes every node's kswapd, wake_all_kswapds) tries again
down to MIN. GFP_NOWAIT (V1-V3) fails there: the entry is not queued
(``kzalloc_failed``). V0 allocates with GFP_KERNEL, whose direct reclaim the
model does not run: it may take any node's last free pages.

Entry sizes, from the posted structs (x86-64): V0 ``kmmscand_migrate_info``
{list_head, mm, vma, folio, address} 48 B and V1 {list_head, mm, folio,
address} 40 B, both kmalloc-64 objects; V2 ``kscand_migrate_info``
{list_head, folio, address} and V3 {list_head, pfn, address} (the per-mm
list holds the mm) 32 B, kmalloc-32 objects.

Assumptions: the scanner thread runs on the first top-tier node (kscand is
an unbound kthread; the model does not place it), the zonelist is that node,
the other top-tier nodes, then the slow nodes (node distances are not
modelled); a node's slab pages are ceil(its live entries / objects a page),
as FIFO allocation and freeing empty whole slab pages in order (SLUB's
partial-slab caching is not modelled).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.model.counters import Counters
    from harness.model.memory import Memory

# kmalloc object size of one list entry, by version (see the module docstring).
ENTRY_BYTES = {"v0": 64, "v1": 64, "v2": 32, "v3": 32}


class EntrySlab:
    """Live entries and slab pages per node, and which node each entry of the
    list (in list order) was allocated on, as runs [node, count]."""

    def __init__(self, mem: Memory, version: str, counters: Counters | None = None):
        self.mem = mem
        self.counters = counters
        self.size = ENTRY_BYTES[version]
        self.per_page = max(mem.page_bytes // self.size, 1)
        self.live = np.zeros(mem.n_nodes, dtype=np.int64)
        self.order = [int(d) for d in mem.fast_nodes] + [int(d) for d in mem.slow_nodes]
        floors = [mem.wmark_low, mem.wmark_min]
        if version == "v0":  # GFP_KERNEL
            floors.append(np.zeros(mem.n_nodes, dtype=np.int64))
        self.floors = floors
        self.runs: deque[list[int]] = deque()

    def bytes_on(self, d: int) -> int:
        """Bytes of live entries charged to node d (entries x entry size)."""
        return int(self.live[d]) * self.size

    def alloc(self, n: int) -> int:
        """kzalloc n entries in order; returns how many got one (the first k:
        once every node is under MIN, the rest fail too)."""
        mem, left = self.mem, n
        for i, floor in enumerate(self.floors):
            if i == 1:  # the fast path failed: __alloc_pages_slowpath wakes kswapd
                for d in mem.fast_nodes:
                    mem.wake_kswapd(int(d))
            for d in self.order:
                if not left:
                    break
                room = max(int(mem.free[d]) - int(floor[d]), 0)
                fit = (int(mem.slab_pages[d]) + room) * self.per_page - int(self.live[d])
                k = min(left, max(fit, 0))
                if k:
                    self._take(d, k)
                    left -= k
            if not left:
                break
        if left and self.counters is not None:
            self.counters.kzalloc_failed += left
        return n - left

    def _take(self, d: int, k: int) -> None:
        self.live[d] += k
        self._repage(d)
        if self.runs and self.runs[-1][0] == d:
            self.runs[-1][1] += k
        else:
            self.runs.append([d, k])

    def _repage(self, d: int) -> None:
        """Node d's slab pages for its live entries; the difference moves
        between its free pages and its slab pages."""
        mem = self.mem
        pages = -(-int(self.live[d]) // self.per_page)
        was = int(mem.slab_pages[d])
        if pages != was:
            mem.free[d] -= pages - was
            mem.slab_pages[d] = pages

    def head_state(self) -> tuple:
        """A Slab record (kernels/records.py) of the list's head run, for the
        migration chunk's kfree in compiled code."""
        d, run = self.runs[0] if self.runs else (0, 0)
        return (self.live, self.mem.slab_pages, self.per_page, d, run)

    def release(self, k: int, freed: bool = False) -> None:
        """kfree the first k entries of the list (processed). freed: they were
        in the head run and kernels.migrate_entries freed their objects
        (live entries, slab and free pages) already: only the run shrinks."""
        run = self.runs[0] if self.runs else None
        if run is not None and k < run[1]:  # inside the head run: the usual case
            run[1] -= k
            if not freed:
                d = run[0]
                self.live[d] -= k
                self._repage(d)
            return
        touched = set()
        while k > 0:
            run = self.runs[0]
            take = min(k, run[1])
            self.live[run[0]] -= take
            touched.add(run[0])
            run[1] -= take
            if run[1] == 0:
                self.runs.popleft()
            k -= take
        for d in touched:
            self._repage(d)

    def drop(self, keep: np.ndarray) -> None:
        """kfree the entries where `keep` (over the whole list, in order) is false."""
        if not self.runs:
            return
        nodes = np.repeat(np.array([r[0] for r in self.runs], dtype=np.int64),
                          np.array([r[1] for r in self.runs], dtype=np.int64))
        gone = np.bincount(nodes[~keep], minlength=self.mem.n_nodes)
        kept = nodes[keep]
        self.runs = deque()
        if len(kept):
            starts = np.flatnonzero(np.diff(kept, prepend=-1))
            counts = np.diff(np.append(starts, len(kept)))
            self.runs.extend([int(kept[s]), int(c)] for s, c in zip(starts, counts, strict=True))
        for d in np.flatnonzero(gone):
            self.live[d] -= gone[d]
            self._repage(int(d))
