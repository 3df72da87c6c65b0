"""Page moves in compiled code: Memory.move's per-page state for one page
(move_page, inlined into the walks that move pages), a thread's moves
from one node at their own times (relocate, migrate_pages' result) and
their rate sums added to Memory's (add_moves)."""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from harness.model.kernels.records import F64, I64, Moves, Nodes, Pages


@numba.njit(cache=True, nogil=True, inline="always")
def move_page(pg: Pages, nodes: Nodes, mv: Moves, p: int, s: int, d: int, at_us: float,
              promote: bool):  # pragma: no cover (compiled)
    """Memory.move's per-page state for page p from node s to node d at its
    own time at_us (not before a move of it still in the future): its node,
    move time and ping-pong mark (set by a demotion; a promotion clears it)
    and the nodes' free pages. The rate sums are left to the caller in
    Memory.move's order: mv.node_in[d] and mv.node_out[s] get the page's
    rate; mv.sums the fast tier's rate change and its lag.
    Returns (1 for a promotion of a demoted page, the move time)."""
    moved_at, node_fast = pg.moved_at, nodes.fast
    prev = moved_at[p]
    if prev > mv.now and prev > at_us:
        at_us = prev
    moved_at[p] = at_us
    pg.node[p] = d
    r = pg.rate[p]
    gain = (r if node_fast[d] else 0.0) - (r if node_fast[s] else 0.0)
    mv.sums[0] += gain
    mv.sums[1] += gain * (at_us - mv.now)
    mv.node_in[d] += r
    mv.node_out[s] += r
    nodes.free[s] += 1
    nodes.free[d] -= 1
    pingpong = pg.was_demoted[p] if promote else False
    pg.was_demoted[p] = not promote
    return np.int64(pingpong), at_us


@intrinsic
def prefetch(typingctx, arr, idx):  # pragma: no cover (compiled)
    """Ask the CPU to fetch arr[idx]'s cache line for writing (llvm.prefetch:
    a hint, it never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
        # write, keep in all cache levels, data
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 1), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# Victims a relocate fetches ahead: kswapd's are about one page in 20, so each
# move touches cache lines of its own in four per-page arrays, from memory;
# fetched 24 moves ahead, 41 -> 30 ns a move (relocate alone, 16.8 M pages).
_MOVE_AHEAD = 24


@numba.njit(cache=True, nogil=True, error_model="numpy")
def relocate(pg: Pages, nodes: Nodes, mv: Moves, pages: I64, at_us: F64, src: int, dst: int,
             promote: bool):  # pragma: no cover (compiled)
    """A thread's page moves from node src to node dst at their own times
    (migrate_pages' result): move_page's state per page, at_us raised in
    place. The rate sums (mv) and the free pages are added up in registers,
    page by page in the same order as move_page adds them (the same
    floating-point sums), and stored once: in the arrays, each page's sum
    waited for the one before it through memory.
    Returns the promotions of pages that were demoted before."""
    pg, nodes, mv = Pages(*pg), Nodes(*nodes), Moves(*mv)  # names back
    moved_at, node, rate, was_demoted = pg.moved_at, pg.node, pg.rate, pg.was_demoted
    now = mv.now
    to_fast, from_fast = nodes.fast[dst], nodes.fast[src]
    rate_in, rate_out = mv.node_in[dst], mv.node_out[src]
    gain_sum, lag_sum = mv.sums[0], mv.sums[1]
    pingpong = 0
    n = len(pages)
    for i in range(n):
        if i + _MOVE_AHEAD < n:
            q = pages[i + _MOVE_AHEAD]
            prefetch(moved_at, q)
            prefetch(rate, q)
            prefetch(was_demoted, q)
            prefetch(node, q)
        p = pages[i]
        at = at_us[i]
        prev = moved_at[p]
        if prev > now and prev > at:  # not before a move of it still in the future
            at = prev
        moved_at[p] = at
        at_us[i] = at
        node[p] = dst
        r = rate[p]
        gain = (r if to_fast else 0.0) - (r if from_fast else 0.0)
        gain_sum += gain
        lag_sum += gain * (at - now)
        rate_in += r
        rate_out += r
        if promote:
            pingpong += was_demoted[p]
        was_demoted[p] = not promote
    mv.node_in[dst], mv.node_out[src] = rate_in, rate_out
    mv.sums[0], mv.sums[1] = gain_sum, lag_sum
    nodes.free[src] += n
    nodes.free[dst] -= n
    return pingpong


@numba.njit(cache=True, nogil=True, inline="always")
def add_node_rates(mv: Moves, node_rate: F64):  # pragma: no cover (compiled)
    """Moves' rate sums by node added to Memory's, in place: node_rate +=
    node_in - node_out, element by element (the same double operations
    wherever a kernel adds them)."""
    for i in range(node_rate.shape[0]):
        node_rate[i] += mv.node_in[i] - mv.node_out[i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def add_moves(mv: Moves, node_rate: F64, fast_rate: float,
              fast_lag: float):  # pragma: no cover (compiled)
    """Memory._add_sums: the rate sums of pages moved by move_page added to
    Memory's (add_node_rates); returns fast_rate + sums[0] and fast_lag +
    sums[1]. (The same double operations as in Python, in one call:
    cheaper than the ufuncs' or a loop's on arrays of a few nodes.)"""
    mv = Moves(*mv)  # names back
    add_node_rates(mv, node_rate)
    return fast_rate + mv.sums[0], fast_lag + mv.sums[1]
