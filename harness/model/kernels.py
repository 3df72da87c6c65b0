"""The model's sequential mechanisms that numpy cannot vectorize, compiled
with numba: each walks pages or list entries one after the other because
every step depends on the one before (a CLOCK hand, a FIFO list with a
running clock). Their per-page reference twins are in ``reference/``.

Compiled on first use and cached on disk (``cache=True``: a fresh clone
compiles once, later processes and Ray workers load the cache);
``warm_up()`` compiles or loads them all and returns the seconds it took,
which ``tiersweep bench`` prints apart from run times.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from harness.model import draws
from harness.model.draws import exponential, uniform

# error_model="numpy": IEEE division (a rate of 0 gives an infinite mean gap,
# as in numpy), not Python's ZeroDivisionError.

# Empty arrays for the kernels' optional inputs ("not given"; numba needs a
# value of the same type), shared by their callers; draws.NO_STREAM too.
NO_BOOLS = np.zeros(0, dtype=np.bool_)
NO_FLOATS = np.zeros(0)

# Page flags, as in memory.py (numba reads module globals as constants).
PG_IDLE, PG_YOUNG, PG_REFERENCED = 1, 2, 4
_PG_FLAGS = PG_IDLE | PG_YOUNG | PG_REFERENCED
_KEEP_IDLE = np.array([0xFF, 0xFF ^ PG_IDLE], dtype=np.uint8)  # by A bit: it clears PG_idle
SWAP_CLUSTER_MAX = 32
_BLOCK = 256  # slots _find_node looks at a call
# PTEs scan_ptes takes a block: 64 was the fastest of 16-1024 on a 4 M-page
# VMA with 70% of A bits set (5.2 ns a PTE, against 6.0 at 256), likely
# because a block's redraws, one serial chain of draws, are then short
# enough for the CPU to overlap them with the next block's loops.
_SCAN_BLOCK = 64
# The flags folio_referenced leaves, by whether the A bit was set (which clears PG_idle).
_KEEP = np.array([0xFF ^ (PG_YOUNG | PG_REFERENCED), 0xFF ^ (PG_YOUNG | PG_REFERENCED | PG_IDLE)],
                 dtype=np.uint8)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def kswapd_clock(node, flags, next_access, rate, stream, t_work, a_win, wu0, wu1, hand, d, need,
                 limit, u, last, clock, budget, c_scan, c_victim, victims, done, nv,
                 clear):  # pragma: no cover (compiled)
    """Reclaim's CLOCK on node d (shrink_folio_list over isolated batches of
    SWAP_CLUSTER_MAX pages, folio_referenced and folio_check_references per
    page), from offset u of this call (page (hand + u) % n; offsets n and
    beyond are the second turn), batch by batch.

    A batch collects up to SWAP_CLUSTER_MAX pages of node d, ending early at
    the need-th victim. On the first turn a page is referenced if its A bit
    or PG_young is set; the A bit is next_access[p] <= t_work when
    next_access is given (not empty), else a_win[u - wu0], for offsets
    [wu0, wu1). When `rate` is given too (one segment of Poisson pages), a
    set A bit is cleared here, the next access redrawn from `stream` as
    RateAccess does, in CLOCK order; else the page goes to `clear`. On the
    second turn a page passed over on the first (it has PG_referenced now) is
    a victim and a victim (PG_referenced clear) is skipped. A batch costs
    c_scan per page plus c_victim per victim; it runs only if it ends by
    `budget` or the clock is still 0. Running it sets the flags (an A bit
    cleared clears PG_idle; PG_young and PG_referenced cleared; a referenced
    page gets PG_referenced) and appends the pages whose A bit to clear to
    `clear` and the victims, with the batch's end time, to `victims`/`done`
    (each one longer than it can fill: stores land before counts move).

    Returns (finished, u, last, clock, nv, n_clear, u_stop): not finished
    when a first-turn page past the window needs its A bit (call again with
    a window from u); u_stop is where the hand stops.
    """
    n = node.shape[0]
    direct = next_access.shape[0] == n
    redraw = direct and rate.shape[0] == n
    cost = np.array([c_victim, c_scan])  # by referenced
    nc = 0
    bp = np.empty(SWAP_CLUSTER_MAX, np.int64)
    ba = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    br = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    hits = np.empty(SWAP_CLUSTER_MAX, np.int64)
    # Offsets of node d's pages ahead, found a block at a time without a
    # branch per page (most pages are on other nodes).
    found = np.empty(_BLOCK, np.int64)
    fi = fn = 0
    su = u  # the next offset to look at
    while True:
        cnt = 0
        bv = 0
        cum = clock
        blast = last
        while cnt < SWAP_CLUSTER_MAX and nv + bv < need:
            if fi == fn:
                if su >= limit:
                    break
                fn = _find_node(node, d, hand, su, min(su + _BLOCK, limit), found)
                fi = 0
                su = min(su + _BLOCK, limit)
                continue
            uu = found[fi]
            fi += 1
            p = hand + uu  # uu < 2n, hand < n: no division
            if p >= n:
                p -= n
                if p >= n:
                    p -= n
            if uu < n:
                if direct:
                    a = next_access[p] <= t_work
                elif uu >= wu1:
                    return False, u, last, clock, nv, nc, -1
                else:
                    a = a_win[uu - wu0]
                ref = a | ((flags[p] & PG_YOUNG) != 0)
            else:
                if uu - n >= u:  # its first visit is in this batch, not run yet
                    passed = False
                    for j in range(cnt):
                        if bp[j] == p:
                            passed = br[j]
                else:
                    passed = (flags[p] & PG_REFERENCED) != 0
                if not passed:
                    continue
                a = False
                ref = False
            bp[cnt] = p
            ba[cnt] = a
            br[cnt] = ref
            cum += cost[np.int64(ref)]
            bv += not ref
            cnt += 1
            blast = uu
        if cnt == 0:
            return True, limit, last, clock, nv, nc, limit
        if cum > budget and clock != 0.0:
            return True, u, last, clock, nv, nc, last + 1
        # Without branches per page: the set A bits listed, then redrawn (in
        # CLOCK order) or listed to clear; the flags; the victims.
        k = 0
        for i in range(cnt):
            hits[k] = bp[i]
            k += ba[i]
        if redraw:
            sh, sl, ih, il = stream[0], stream[1], stream[2], stream[3]
            for h in range(k):
                p = hits[h]
                e, sh, sl = exponential(sh, sl, ih, il)
                next_access[p] = e * (1e6 / rate[p]) + t_work
            stream[0], stream[1] = sh, sl
        else:
            for h in range(k):
                clear[nc + h] = hits[h]
            nc += k
        for i in range(cnt):
            p = bp[i]
            ref = br[i]
            flags[p] = (flags[p] & _KEEP[np.int64(ba[i])]) | (ref * PG_REFERENCED)
            victims[nv] = p
            done[nv] = cum
            nv += not ref
        clock = cum
        last = blast
        u = last + 1
        if nv >= need:
            return True, u, last, clock, nv, nc, u


@numba.njit(cache=True, nogil=True)
def _find_node(node, d, hand, u0, u1, found):  # pragma: no cover (compiled)
    """Writes to `found` the offsets u in [u0, u1) (u1 - u0 <= len(found))
    whose page (hand + u) % n is on node d; returns their number. Straight
    runs of page indices, wrapping to page 0."""
    n = node.shape[0]
    p0 = hand + u0
    while p0 >= n:
        p0 -= n
    k = 0
    uu = u0
    while uu < u1:
        stop = min(p0 + (u1 - uu), n)
        nd = node[p0:stop]  # a slice indexed from 0: no wraparound test
        for i in range(stop - p0):
            found[k] = uu + i
            k += nd[i] == d
        uu += stop - p0
        p0 = 0
    return k


# Outcome of one migration-list entry (as in policies/_kmmscand/migrator.py).
OK, NOT_HOT, SAME_NODE, INELIGIBLE, WATERMARK = 0, 1, 2, 3, 4


@numba.njit(cache=True, nogil=True, inline="always")
def move_page(p, s, d, at_us, now, promote, node, moved_at, was_demoted, rate, node_fast, free,
              node_in, node_out, sums, ats, i):  # pragma: no cover (compiled)
    """Memory.move's per-page state for page p from node s to node d at its
    own time at_us (not before a move of it still in the future): its node,
    move time and ping-pong mark (set by a demotion; a promotion clears it)
    and the nodes' free pages. The rate sums are left to the caller in
    Memory.move's order: node_in[d] and node_out[s] get the page's rate;
    sums[0] gets the fast tier's rate change and sums[1] that change x
    (at_us - now) (the hit accounting's lag); ats[i] the move time.
    Returns 1 for a promotion of a demoted page."""
    prev = moved_at[p]
    if prev > now and prev > at_us:
        at_us = prev
    moved_at[p] = at_us
    node[p] = d
    r = rate[p]
    gain = (r if node_fast[d] else 0.0) - (r if node_fast[s] else 0.0)
    sums[0] += gain
    sums[1] += gain * (at_us - now)
    ats[i] = at_us
    node_in[d] += r
    node_out[s] += r
    free[s] += 1
    free[d] -= 1
    pingpong = was_demoted[p] if promote else False
    was_demoted[p] = not promote
    return np.int64(pingpong)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def migrate_entries(pages, piece_end, piece_vis, mm_lo, targets, node, flags, node_fast, free,
                    wmark_high, cost_ns, hot_check, start, bound, budget, rate, moved_at,
                    was_demoted, now, node_in, node_out, sums, moved, ats, codes, attempts,
                    successes, full):  # pragma: no cover (compiled)
    """kmmmigrated's pass (kmmscand_migrate_folio per entry) over list
    entries in FIFO order, on the thread's clock from `start` (ns). The
    entries come in pieces, each visible from piece_vis (us; entries before
    piece_end[j] are in pieces <= j); an entry is processed only if it is
    visible when the previous one ends and it ends by `bound`. Its
    destination is its mm's target node (mm_lo: each mm's first page).
    Its outcome, first failing check first: not hot (when hot_check:
    kscand's is_hot_page, CONFIG_PAGE_IDLE_FLAG form, `!idle && (referenced
    || young)` on the flags the scanner's last visit left, not on the A bit,
    which that visit cleared), source == destination (a page moved already,
    also by an earlier entry of this pass), source not on the slow tier, no
    free page above the destination's high watermark; else success, and the
    page moves when the entry ends (move_page). Its cost is
    cost_ns[outcome]. At most `budget` successes (-1: no limit; the pass
    stops at the last one).

    Adds the processed entries by outcome to `codes`, by mm to `attempts`
    and `successes`, marks in `full` the destinations found full, writes the
    successes' pages to `moved` and their move times from index 0 (move_page
    adds their rate sums), and returns
    (entries processed, successes, the clock after the last one,
    promotions of demoted pages)."""
    clock = start
    k = 0
    n_ok = 0
    pingpong = 0
    n_wm = 0
    j = 0
    one_mm = mm_lo.shape[0] == 1
    for i in range(len(pages)):
        if i == 0 or i == piece_end[j]:  # a piece seen once visible stays so: clocks grow
            while i >= piece_end[j]:
                j += 1
            if piece_vis[j] > clock / 1000:
                break
        p = pages[i]
        mm = 0 if one_mm else np.searchsorted(mm_lo, p, side="right") - 1
        d = targets[mm]
        s = node[p]
        f = flags[p]
        if hot_check and not ((f & PG_IDLE) == 0 and (f & (PG_YOUNG | PG_REFERENCED)) != 0):
            r = NOT_HOT
        elif s == d:
            r = SAME_NODE
        elif node_fast[s]:
            r = INELIGIBLE
        elif free[d] <= wmark_high[d]:
            r = WATERMARK
        else:
            r = OK
        end = clock + cost_ns[r]
        if end > bound:
            break
        clock = end
        k = i + 1
        if r == WATERMARK:
            n_wm += 1
            full[d] = True
        elif r != OK:
            codes[r] += 1
        if not one_mm:
            attempts[mm] += 1
        if r == OK:
            moved[n_ok] = p
            pingpong += move_page(p, s, d, end / 1000, now, True, node, moved_at, was_demoted,
                                  rate, node_fast, free, node_in, node_out, sums, ats, n_ok)
            if not one_mm:
                successes[mm] += 1
            n_ok += 1
            if n_ok == budget:
                break
    # Counted here, not per entry (an array element incremented per entry is
    # a dependency chain through memory).
    codes[OK] += n_ok
    codes[WATERMARK] += n_wm
    if one_mm:
        attempts[0] += k
        successes[0] += n_ok
    return k, n_ok, clock, pingpong


@numba.njit(cache=True, nogil=True, error_model="numpy")
def scan_ptes(lo, hi, next_access, rate, stream, t_work, a_given, node, flags, slow_of, kscand,
              second_access, miss_stream, a_bit_miss, scanned, cand):  # pragma: no cover (compiled)
    """One VMA's PTEs [lo, hi) (page indices), in order: the RFC scanner's
    hot_vma_idle_pte_entry (kmmscand) or kscand's.

    The A bit (next_access and rate are the VMA's slices, index i - lo):
    next_access <= t_work; a set bit is cleared and the next access redrawn,
    t_work + Exp(1) x 1e6 / rate, from `stream` (the segment's Poisson pages,
    the same draws as RateAccess's, in page order).
    When `a_given` is not empty, it holds the A bits, already tested and
    cleared (exact counts). A set bit reads clear with probability a_bit_miss
    (a draw from miss_stream per set bit; x86 clears it without a TLB flush).
    An A bit clears PG_idle and sets PG_young (page_idle_clear_pte_refs).

    kmmscand (V0, V1): accessed is `!idle || young || referenced || A` on the
    flags as found, and every PTE ends idle (folio_set_idle). kscand (V2+):
    folio_set_idle first, then the A-bit clear, so a slow-tier page is
    accessed iff its A bit was set; with second_access also `!prev_idle`. A
    top-tier page counts as accessed iff young || referenced || A.

    Adds the PTEs per node to `scanned`, writes the accessed slow-tier pages
    to `cand` (in page order; one longer than it can fill) and returns
    (top-tier accessed, their number).
    """
    given = a_given.shape[0] > 0
    miss = a_bit_miss > 0.0
    # One fast node (the usual platform): the slow test is a compare, which
    # vectorizes; else a lookup by node.
    fast = np.flatnonzero(~slow_of[:-1])
    one_fast = fast.shape[0] == 1
    fast_node = np.int8(fast[0]) if one_fast else np.int8(-2)
    n_top = 0
    nc = 0
    # A block at a time, each step a loop without branches per PTE over the
    # block's slices (indices from 0, which numba vectorizes): the A bits,
    # the set ones listed and redrawn, the flags and which pages to queue,
    # then the queued pages listed.
    # The streams' states in registers for the walk (see draws.py).
    sh, sl, ih, il = stream[0], stream[1], stream[2], stream[3]
    mh, ml, jh, jl = miss_stream[0], miss_stream[1], miss_stream[2], miss_stream[3]
    hit = np.empty(_SCAN_BLOCK, np.int64)
    abit = np.empty(_SCAN_BLOCK, np.uint8)
    sel = np.empty(_SCAN_BLOCK, np.uint8)
    slow = np.empty(_SCAN_BLOCK, np.uint8)
    for b0 in range(lo, hi, _SCAN_BLOCK):
        m = min(b0 + _SCAN_BLOCK, hi) - b0
        j0 = b0 - lo
        nd = node[b0:b0 + m]
        fl = flags[b0:b0 + m]
        if given:
            ag = a_given[j0:j0 + m]
            for i in range(m):
                abit[i] = ag[i]
        else:
            na = next_access[j0:j0 + m]
            for i in range(m):
                abit[i] = na[i] <= t_work
        if miss or not given:
            k = 0
            for i in range(m):
                hit[k] = i
                k += abit[i]
            if not given:
                rt = rate[j0:j0 + m]
                for h in range(k):
                    i = hit[h]
                    e, sh, sl = exponential(sh, sl, ih, il)
                    na[i] = e * (1e6 / rt[i]) + t_work
            if miss:
                for h in range(k):
                    u, mh, ml = uniform(mh, ml, jh, jl)
                    if u < a_bit_miss:
                        abit[hit[h]] = 0
        if one_fast:
            for i in range(m):
                slow[i] = nd[i] != fast_node
        else:
            for i in range(m):
                slow[i] = slow_of[nd[i]]
        top = 0
        if not kscand:
            for i in range(m):
                a = abit[i]
                f = fl[i]
                acc = a | np.uint8((f & _PG_FLAGS) != PG_IDLE)
                fl[i] = f | np.uint8(PG_IDLE) | (a * np.uint8(PG_YOUNG))
                x = acc & slow[i]
                sel[i] = x
                top += acc ^ x
        else:
            keep = np.uint8(0) if second_access else np.uint8(1)
            for i in range(m):
                a = abit[i]
                f = fl[i]
                s = slow[i]
                # (f & PG_IDLE) ^ 1 is "not idle"; keep = 1 makes it true
                sel[i] = s & a & (((f & np.uint8(PG_IDLE)) ^ np.uint8(1)) | keep)
                f = ((f | np.uint8(PG_IDLE)) & (np.uint8(0xFF) ^ a)) | (a * np.uint8(PG_YOUNG))
                top += (s ^ np.uint8(1)) & np.uint8((f & (PG_YOUNG | PG_REFERENCED)) != 0)
                fl[i] = f
        n_top += top
        for i in range(m):
            cand[nc] = np.int32(b0 + i)
            nc += sel[i]
    if not given:  # drawn from: a shared NO_STREAM is never written
        stream[0], stream[1] = sh, sl
    if miss:
        miss_stream[0], miss_stream[1] = mh, ml
    # PTEs per node (unallocated pages, -1, are not counted): a compare per
    # node, without a store per PTE.
    nd = node[lo:hi]
    for d in range(scanned.shape[0]):
        c = 0
        for i in range(hi - lo):
            c += nd[i] == d
        scanned[d] += c
    return n_top, nc


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
def relocate(pages, at_us, now, promote, src, dst, node, moved_at, was_demoted, rate, node_fast,
             free, node_in, node_out, sums):  # pragma: no cover (compiled)
    """A thread's page moves from node src to node dst at their own times
    (migrate_pages' result): move_page per page, at_us raised in place.
    Returns the promotions of pages that were demoted before."""
    pingpong = 0
    n = len(pages)
    for i in range(n):
        if i + _MOVE_AHEAD < n:
            q = pages[i + _MOVE_AHEAD]
            prefetch(moved_at, q)
            prefetch(rate, q)
            prefetch(was_demoted, q)
            prefetch(node, q)
        pingpong += move_page(pages[i], src, dst, at_us[i], now, promote, node, moved_at,
                              was_demoted, rate, node_fast, free, node_in, node_out, sums,
                              at_us, i)
    return pingpong


@numba.njit(cache=True, nogil=True, error_model="numpy")
def kswapd_chunk(d, t, budget, t_work, node, flags, next_access, rate, stream, hand, scanned, left,
                 free, wmark, wmark_high, slow_nodes, c_scan, c_victim, page_rate,
                 moved_at, was_demoted, node_fast, node_rate, fast, victims,
                 at_us):  # pragma: no cover (compiled)
    """One chunk of node d's kswapd from event time t (us) in one call, when
    the walk reads and redraws the A bits itself (one segment of Poisson
    pages): Kswapd._kswapd_run's rounds, each kswapd_clock's walk (as
    _rule_kswapd_victims runs it) and relocate's moves to the slow node with
    the most free pages, the sums added round by round as Memory.move adds
    them (node_rate; fast: the fast tier's rate and lag; page_rate: Memory's
    rates). Per node state: hand, scanned (CLOCK steps this run; 2n: give
    up), left (victims left this round). victims and at_us get the
    chunk's victims and move times (long enough for what `budget` allows,
    plus two batches). Returns (clock, victims)."""
    n = node.shape[0]
    clock = 0.0
    nv_all = 0
    clear = np.empty(1, np.int64)
    node_in = np.zeros(node_rate.shape[0])
    node_out = np.zeros(node_rate.shape[0])
    sums = np.zeros(2)
    while True:
        if left[d] == 0:
            if free[d] > wmark[d]:  # pgdat_balanced
                break
            left[d] = max(wmark_high[d], SWAP_CLUSTER_MAX)
        dest = slow_nodes[0]
        for s in slow_nodes[1:]:  # the first with the most free pages (argmax)
            if free[s] > free[dest]:
                dest = s
        need = min(left[d], free[dest])
        if need <= 0:
            scanned[d] = 2 * n  # nowhere to demote to: give up
            break
        h = hand[d]
        limit = 2 * n - scanned[d]
        vic = victims[nv_all:]
        done = at_us[nv_all:]
        _, u, last, clock, nv, nc, u_stop = kswapd_clock(
            node, flags, next_access, rate, stream, t_work, NO_BOOLS, 0, limit, h, d, need, limit,
            0, -1, clock, budget, c_scan, c_victim, vic, done, 0, clear)
        hand[d] = (h + u_stop) % n
        scanned[d] += u_stop
        for i in range(nv):
            done[i] = t + done[i] / 1000.0
        node_in[:] = 0.0
        node_out[:] = 0.0
        sums[:] = 0.0
        relocate(vic[:nv], done[:nv], float(t), False, d, dest, node, moved_at, was_demoted,
                 page_rate, node_fast, free, node_in, node_out, sums)
        for i in range(node_rate.shape[0]):
            node_rate[i] += node_in[i] - node_out[i]
        fast[0] += sums[0]
        fast[1] += sums[1]
        nv_all += nv
        left[d] -= nv
        if nv < need:
            break  # the next event comes first, or two full turns
    return clock, nv_all


def warm_up() -> float:
    """Compile (or load from the cache) every kernel; the seconds it took."""
    t0 = time.perf_counter()
    draws.warm_up()
    node = np.zeros(4, dtype=np.int8)
    flags = np.zeros(4, dtype=np.uint8)
    out = np.zeros(4, dtype=np.int64)
    stream = np.zeros(4, dtype=np.uint64)  # a stream's state
    kswapd_clock(node, flags, np.zeros(4), np.ones(4), stream, 0.0, np.zeros(4, dtype=np.bool_), 0,
                 4, 0, 0, 1, 8, 0, -1, 0.0, np.inf, 1.0, 2.0, out, np.zeros(4), 0,
                 np.zeros(5, dtype=np.int64))
    pages = np.zeros(1, dtype=np.int32)
    migrate_entries(pages, np.ones(1, dtype=np.int64), np.zeros(1), np.zeros(1, dtype=np.int64),
                    node[:1].copy(), node, flags, np.zeros(5, dtype=np.bool_),
                    np.ones(4, dtype=np.int64), np.zeros(4, dtype=np.int64),
                    np.ones(5, dtype=np.int64), True, 0, 10, -1, np.ones(4), np.zeros(4),
                    np.zeros(4, dtype=np.bool_), 0.0, np.zeros(4), np.zeros(4), np.zeros(2),
                    pages.copy(), np.zeros(1), np.zeros(5, dtype=np.int64),
                    np.zeros(1, dtype=np.int64),
                    np.zeros(1, dtype=np.int64), np.zeros(4, dtype=np.bool_))
    scan_ptes(0, 1, np.zeros(1), np.ones(1), stream, 0.0, np.zeros(0, dtype=np.bool_), node, flags,
              np.ones(5, dtype=np.bool_), False, False, stream, 0.0, np.zeros(4, dtype=np.int64),
              np.zeros(2, dtype=np.int32))
    relocate(np.zeros(1, dtype=np.int64), np.zeros(1), 0.0, False, 0, 1, node, np.zeros(4),
             np.zeros(4, dtype=np.bool_), np.ones(4), np.zeros(5, dtype=np.bool_),
             np.zeros(4, dtype=np.int64), np.zeros(4), np.zeros(4), np.zeros(2))
    kswapd_chunk(0, 0, 1e6, 0.0, node, flags, np.zeros(4), np.ones(4), stream,
                 np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64),
                 np.zeros(2, dtype=np.int64), np.array([8, 8], dtype=np.int64),
                 np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64),
                 np.array([1], dtype=np.int64), 1.0, 2.0, np.ones(4), np.zeros(4),
                 np.zeros(4, dtype=np.bool_), np.zeros(3, dtype=np.bool_), np.zeros(2),
                 np.zeros(2), np.zeros(70, dtype=np.int64), np.zeros(70))
    return time.perf_counter() - t0
