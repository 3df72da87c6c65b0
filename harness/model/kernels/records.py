"""The compiled kernels' state, declared once: named records (tuples of
arrays and scalars with names) that the callers build and the kernels read
by field, the page flags and the migration outcome codes.

A record's fields are annotated with their type: ``Pages`` etc. are the
declaration, ``example(Record)`` builds a value of each field's type (what
``warm_up`` compiles the kernels for) and each kernel's parameters are
annotated with the record it takes.

From Python, a record crosses into a kernel as a plain tuple of its fields in
the declared order (``Pages(...)`` or a tuple literal, then ``tuple``), and
the kernel's first line names them again (``pg = Pages(*pg)``, free in
compiled code). Why: numba types a plain tuple argument in C, a NamedTuple
in Python (about 0.1 us a field, several us a call on the hot calls: 5-8%
of a run).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, get_type_hints

import numpy as np

# Empty arrays for the kernels' optional inputs ("not given"; numba needs a
# value of the same type), shared by their callers; draws.NO_STREAM too.
NO_BOOLS = np.zeros(0, dtype=np.bool_)
NO_FLOATS = np.zeros(0)

# Page flags (bits of Memory.pgflags, one byte per page): the kernel's folio
# flags that the scanners and reclaim read. PG_idle and PG_young are
# CONFIG_PAGE_IDLE_FLAG's (page_idle.h); PG_referenced is the LRU's. They are
# per page index, so a move keeps them (folio_migrate_flags copies them).
# Numba reads module globals as constants.
PG_IDLE, PG_YOUNG, PG_REFERENCED = 1, 2, 4
# SWAP_CLUSTER_MAX, reclaim's batch (pages): kswapd_shrink_node reclaims
# max(high watermark, it) a round; shrink_folio_list takes batches of it.
SWAP_CLUSTER_MAX = 32


class Outcome(IntEnum):
    """Outcome of one migration-list entry (kmmscand_migrate_folio's checks,
    the first failing one first); the index of its cost and its count."""

    OK = 0
    NOT_HOT = 1       # kscand's is_hot_page false
    SAME_NODE = 2     # already on the destination (stale; tested after INELIGIBLE)
    INELIGIBLE = 3    # source not on the slow tier (stale: moved already)
    WATERMARK = 4     # destination without a free page above its high watermark


N_OUTCOMES = len(Outcome)


# Array field types, by element dtype (numba compiles for the dtype).
class I8(np.ndarray): dtype = np.int8          # noqa: E701
class U8(np.ndarray): dtype = np.uint8         # noqa: E701
class I32(np.ndarray): dtype = np.int32        # noqa: E701
class I64(np.ndarray): dtype = np.int64        # noqa: E701
class U64(np.ndarray): dtype = np.uint64       # noqa: E701
class F64(np.ndarray): dtype = np.float64      # noqa: E701
class Bools(np.ndarray): dtype = np.bool_      # noqa: E701


class Pages(NamedTuple):
    """Memory's per-page state (index: page)."""

    node: I8            # node index, -1: not allocated
    flags: U8           # PG_IDLE | PG_YOUNG | PG_REFERENCED
    moved_at: F64       # the last move's time (us)
    was_demoted: Bools  # the last move was a demotion (ping-pong mark)
    rate: F64           # access rate (per s)


class Nodes(NamedTuple):
    """Memory's per-node state (index: node; ``fast`` has one more entry, -1's)."""

    fast: Bools
    free: I64
    wmark_high: I64


class Moves(NamedTuple):
    """The rate sums of the pages a kernel moves (move_page), added up in the
    order Memory.move adds them: rates into and out of each node, and
    sums[0] the fast tier's rate change, sums[1] that change x (at_us - now)."""

    node_in: F64
    node_out: F64
    sums: F64
    now: float  # us


class ABits(NamedTuple):
    """Where a walk reads the A bits: next_access <= t_work (Poisson pages,
    next_access not empty; with `rate` too, a set bit is cleared and the next
    access redrawn from `stream`, as RateAccess does), else `given` (already
    read: a scan's bits, or a window [lo, hi) of CLOCK offsets)."""

    next_access: F64
    rate: F64
    stream: U64
    t_work: float
    given: Bools
    lo: int
    hi: int


class Clock(NamedTuple):
    """One kswapd CLOCK walk on node d: from page `hand`, at most `limit`
    steps, until `need` victims; a batch runs only if it ends by `budget`
    (ns). A page scanned costs c_scan, a victim c_victim."""

    d: int
    hand: int
    need: int
    limit: int
    budget: float
    c_scan: float
    c_victim: float


class Victims(NamedTuple):
    """A walk's output: victims and their batch's end time (done); pages
    whose A bit to clear (each longer than it can fill)."""

    pages: I64
    done: F64
    clear: I64


class Kswapd(NamedTuple):
    """kswapd's per-node state (hand, this run's CLOCK steps, victims left in
    the round, the watermark it balances to), where it demotes and the costs."""

    hand: I64
    scanned: I64
    left: I64
    wmark: I64
    slow_nodes: I64
    c_scan: float
    c_victim: float


class Chunk(NamedTuple):
    """A kswapd chunk's output: victims, move times (long enough for what the
    budget allows, plus two batches), and the sums to add to: Memory's
    node_rate (in place), fast_rate and fast_lag (the chunk returns them)."""

    victims: I64
    at_us: F64
    node_rate: F64
    fast_rate: float
    fast_lag: float


class Entries(NamedTuple):
    """Migration-list entries in FIFO order: `pages`, all of one piece of the
    list, visible from vis (us), then `more` (empty, or entries of the next
    piece, visible from more_vis): two arrays of the list walked as one,
    without a copy into one; each mm's first page (mm_lo) and target node."""

    pages: I32
    more: I32
    vis: float
    more_vis: float
    mm_lo: I64
    targets: I8


class Pass(NamedTuple):
    """A migration pass's chunk: entry costs by Outcome (ns), the is_hot_page
    check, the thread's clock (start), the bound (ns), the success budget
    (-1: no limit), whether the outputs start from zero (fresh: the
    chunk's first call) and whether the entries given are the most the
    chunk may process (last)."""

    cost_ns: I64
    hot_check: bool
    start: int
    bound: int
    budget: int
    fresh: bool
    last: bool  # the entries given are all the chunk may process


class Slab(NamedTuple):
    """The list entries' slab objects (EntrySlab) for a chunk's kfree: live
    entries and slab pages by node, objects a slab page holds, and the
    list's head run (its first `run` entries were allocated on `node`; run
    0: no slab)."""

    live: I64
    slab_pages: I64
    per_page: int
    node: int
    run: int


class Processed(NamedTuple):
    """What migrate_entries adds to: entries by Outcome (codes), by mm
    (attempts, successes), the full destinations; the moved pages and their
    move times from index 0; Memory's node_rate (the chunk's rate sums by
    node, added at its end)."""

    codes: I64
    attempts: I64
    successes: I64
    full: Bools
    moved: I32
    ats: F64
    node_rate: F64


# hot_vma_idle_pte_entry's form by version (ScanRules.form): kmmscand V0/V1
# (the OR test, every PTE left idle), kscand V2 (the OR test, an accessed
# top-tier page returns before folio_set_idle), kscand V3 (folio_set_idle
# before the A-bit clear, the test `!idle && (young || referenced)`).
SCAN_KMMSCAND, SCAN_KSCAND_V2, SCAN_KSCAND_V3 = 0, 1, 2


class ScanRules(NamedTuple):
    """The PTE scanner's rules: slow tier by node (last entry: -1's), the
    walk's form (SCAN_*), the second-access check, the A-bit miss probability
    and its stream."""

    slow_of: Bools
    form: int
    second_access: bool
    a_bit_miss: float
    miss_stream: U64


def example(record: type, n: int = 0):
    """A value of each field's declared type (arrays of n zeros): what the
    kernels are compiled for."""
    values = []
    for name, tp in get_type_hints(record).items():
        if isinstance(tp, type) and issubclass(tp, np.ndarray):
            values.append(np.zeros(n, dtype=tp.dtype))
        elif tp in (int, float, bool):
            values.append(tp(0))
        else:
            raise TypeError(f"{record.__name__}.{name}: no example of {tp}")
    return record(*values)
