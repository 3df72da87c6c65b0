"""The model's sequential mechanisms that numpy cannot vectorize, compiled
with numba: each walks pages or list entries one after the other because
every step depends on the one before (a CLOCK hand, a FIFO list with a
running clock). Their per-page reference twins are in ``reference/``.

By mechanism: ``reclaim`` (kswapd's CLOCK and chunk), ``migrate``
(kmmmigrated's pass), ``scan`` (the PTE scanner's walk), ``moves`` (page
moves and their rate sums). Their state comes in the named records of ``records``, each
kernel's parameters annotated with the record they take.

Compiled on first use and cached on disk (``cache=True``: a fresh clone
compiles once, later processes and Ray workers load the cache);
``warm_up()`` compiles or loads them all for the types their annotations
declare and returns the seconds it took, which ``tiersweep bench`` prints
apart from run times.
"""

from __future__ import annotations

import inspect
import time
from typing import get_type_hints

import numba
import numpy as np

from harness.model import draws
from harness.model.kernels import records
from harness.model.kernels.migrate import migrate_entries
from harness.model.kernels.moves import add_moves, relocate
from harness.model.kernels.reclaim import kswapd_chunk, kswapd_clock
from harness.model.kernels.records import (
    NO_BOOLS,
    NO_FLOATS,
    PG_IDLE,
    PG_REFERENCED,
    PG_YOUNG,
    SWAP_CLUSTER_MAX,
    Outcome,
)
from harness.model.kernels.scan import scan_ptes
from harness.model.kernels.shuffle import scatter_shuffled

# The kernels called from Python (the others are inlined or called from these).
KERNELS = (kswapd_clock, kswapd_chunk, migrate_entries, relocate, add_moves, scan_ptes,
           scatter_shuffled)


def signature(kernel) -> tuple:
    """The numba types of a kernel's parameters, from their annotations: a
    record's example, or a scalar of the annotated type."""
    hints = get_type_hints(kernel.py_func, vars(records))
    args = []
    for name in inspect.signature(kernel.py_func).parameters:
        tp = hints[name]
        if isinstance(tp, type) and issubclass(tp, np.ndarray):
            args.append(np.zeros(0, dtype=tp.dtype))
        elif tp in (int, float, bool):
            args.append(tp(0))
        else:
            args.append(tuple(records.example(tp)))  # a record crosses as a plain tuple
    return tuple(numba.typeof(a) for a in args)


def warm_up() -> float:
    """Compile (or load from the cache) every kernel; the seconds it took."""
    t0 = time.perf_counter()
    draws.warm_up()
    for kernel in KERNELS:
        kernel.compile(signature(kernel))
    return time.perf_counter() - t0


__all__ = ["KERNELS", "NO_BOOLS", "NO_FLOATS", "PG_IDLE", "PG_REFERENCED", "PG_YOUNG",
           "SWAP_CLUSTER_MAX", "Outcome", "add_moves", "kswapd_chunk", "kswapd_clock", "migrate_entries",
           "relocate", "scan_ptes", "scatter_shuffled", "warm_up"]
