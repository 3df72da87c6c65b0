"""kswapd's reclaim walk in compiled code: the CLOCK over a node's pages
(kswapd_clock, each batch's victims depend on the hand's path so far) and
a whole chunk of rounds, walks and moves (kswapd_chunk)."""

from __future__ import annotations

import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from harness.model.draws import exponential
from harness.model.kernels.moves import add_node_rates, prefetch, relocate
from harness.model.kernels.records import (
    PG_IDLE,
    PG_REFERENCED,
    PG_YOUNG,
    SWAP_CLUSTER_MAX,
    ABits,
    Chunk,
    Clock,
    Kswapd,
    Moves,
    Nodes,
    Pages,
    Victims,
)

# Finding node d's pages 8 node bytes at a time (SWAR, _node_mask): the
# bytes' low 7 bits, their high bits, a byte of ones, and the multiplier
# that gathers the 8 bytes' low bits into the top byte. The bytes of a word
# are pages in order on a little-endian machine only; else one at a time.
_SWAR = sys.byteorder == "little"
_LOW7, _HIGH1 = np.uint64(0x7F7F7F7F7F7F7F7F), np.uint64(0x8080808080808080)
_ONES, _GATHER = np.uint64(0x0101010101010101), np.uint64(0x0102040810204080)
_U0, _U1, _U7, _U8, _U56, _UFF = (np.uint64(k) for k in (0, 1, 7, 8, 56, 0xFF))
_UBATCH = np.uint64(SWAP_CLUSTER_MAX)
_WORD = 64  # pages a mask covers
_AHEAD = 256  # pages ahead whose A bits and rates a run prefetches


@intrinsic
def _load_u64(typingctx, arr, idx):  # pragma: no cover (compiled)
    """arr[idx:idx + 8] (a byte array) as one uint64: an unaligned load."""
    sig = types.uint64(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        return builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()), align=1)

    return sig, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _node_mask(node, d, d8, p0, m):  # pragma: no cover (compiled)
    """Bit j set iff page p0 + j is on node d, for j < m (m <= 64, p0 + m <=
    n). A whole word 8 bytes at a time without a branch per page: y = the
    bytes xor d (d8: d in every byte); a byte of y is 0 iff its low 7 bits
    plus 0x7F do not carry into bit 7 and its bit 7 is clear."""
    out = _U0
    if _SWAR and m == _WORD:
        for w in range(8):
            y = _load_u64(node, p0 + 8 * w) ^ d8
            z = ~(((y & _LOW7) + _LOW7) | y) & _HIGH1  # 0x80 in the bytes that were d
            out |= (((z >> _U7) * _GATHER) >> _U56) << np.uint64(8 * w)
        return out
    for j in range(m):
        out |= np.uint64(node[p0 + j] == d) << np.uint64(j)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _undo(flags, rec, cnt):  # pragma: no cover (compiled)
    """A batch's flags put back (rec[c] = page << 8 | its flags before),
    last first: a page met twice in it gets its first value."""
    for c in range(cnt - 1, -1, -1):
        flags[rec[c] >> _U8] = rec[c] & _UFF


@numba.njit(cache=True, nogil=True, error_model="numpy")
def kswapd_clock(pg: Pages, bits: ABits, walk: Clock, u: int, last: int, clock: float, nv: int,
                 out: Victims):  # pragma: no cover (compiled)
    """Reclaim's CLOCK on node d (shrink_folio_list over isolated batches of
    SWAP_CLUSTER_MAX pages, folio_referenced and folio_check_references per
    page), from offset u of this call (page (hand + u) % n; offsets n and
    beyond are the second turn), batch by batch (walk: see Clock).

    A batch collects up to SWAP_CLUSTER_MAX pages of node d, ending early at
    the need-th victim. On the first turn a page is referenced if its A bit
    or PG_young is set; the A bit is next_access[p] <= t_work when
    bits.next_access is given (not empty), else bits.given[u - bits.lo], for
    offsets [bits.lo, bits.hi). When bits.rate is given too (one segment of Poisson pages), a
    set A bit is cleared here, the next access redrawn from `stream` as
    RateAccess does, in CLOCK order; else the page goes to out.clear. On the
    second turn a page passed over on the first (it has PG_referenced now) is
    a victim and a victim (PG_referenced clear) is skipped. A batch costs
    c_scan per page plus c_victim per victim; it runs only if it ends by
    `budget` or the clock is still 0. Running it sets the flags (an A bit
    cleared clears PG_idle; PG_young and PG_referenced cleared; a referenced
    page gets PG_referenced) and appends the pages whose A bit to clear to
    out.clear (not when it redraws them) and the victims, with the batch's
    end time, to out.pages and out.done from index nv (each one longer than
    it can fill: stores land before counts move).

    How, in one pass over the batch's pages: node d's pages found 64 at a
    time (_node_mask: a bit mask, its set bits taken lowest first); each
    page's flags set as it is collected (the old flags kept: a batch that
    does not run puts them back, last first), so a second-turn page reads
    PG_referenced as this batch left it; the redraws after the batch, in
    CLOCK order.

    Returns (finished, u, last, clock, nv, n_set, u_stop): n_set, the set A
    bits the batches that ran found (redrawn, or the first n_set of
    out.clear); not finished when a first-turn page past the window needs
    its A bit (call again with a window from u); u_stop is where the hand
    stops.
    """
    pg, bits, walk, out = Pages(*pg), ABits(*bits), Clock(*walk), Victims(*out)  # names back
    node, flags = pg.node, pg.flags
    next_access, rate, stream, t_work = bits.next_access, bits.rate, bits.stream, bits.t_work
    a_win, wu0, wu1 = bits.given, bits.lo, bits.hi
    hand, d, need, limit, budget = walk.hand, walk.d, walk.need, walk.limit, walk.budget
    c_scan, c_victim = walk.c_scan, walk.c_victim
    victims, done, clear = out.pages, out.done, out.clear
    n = node.shape[0]
    direct = next_access.shape[0] == n
    redraw = direct and rate.shape[0] == n
    d8 = np.uint64(d & 0xFF) * _ONES
    nc = 0
    rec = np.empty(SWAP_CLUSTER_MAX, np.uint64)  # the batch's pages and old flags: p << 8 | flags
    hits = np.empty(SWAP_CLUSTER_MAX, np.int64)  # the batch's set A bits
    # Node d's pages not yet taken among offsets [bu, bu + bm), pages from p0.
    bu, bm, p0, mask = u, 0, 0, _U0
    while True:
        cnt = bv = k = 0
        cum = clock
        blast = last
        room = need - nv  # victims this batch may take
        vic = victims[nv:]
        while cnt < SWAP_CLUSTER_MAX and bv < room:
            if mask == _U0:  # the next straight run of pages, at most 64
                bu += bm
                if bu >= limit:
                    break
                p0 = hand + bu  # bu < 2n, hand < n: no division
                if p0 >= n:
                    p0 -= n
                    if p0 >= n:
                        p0 -= n
                bm = min(_WORD, limit - bu, n - p0)
                mask = _node_mask(node, d, d8, p0, bm)
                if direct:  # the A bits (and rates) a few runs ahead, from memory
                    for j in range(0, _WORD, 8):
                        prefetch(next_access, p0 + _AHEAD + j)
                        if redraw:
                            prefetch(rate, p0 + _AHEAD + j)
                continue
            if direct and bu + bm <= n:
                # The first turn with the A bits read here: most pages, in a
                # loop of their own (unsigned page indices: no test for
                # negative ones).
                base = np.uint64(p0)
                uc, uk, uv, ur = np.uint64(cnt), np.uint64(k), np.uint64(bv), np.uint64(room)
                while True:
                    b = trailing_zeros(mask)
                    mask &= mask - _U1
                    q = base + b
                    f = flags[q]
                    a = next_access[q] <= t_work
                    ref = a | ((f & PG_YOUNG) != 0)
                    rec[uc] = (q << _U8) | np.uint64(f)
                    flags[q] = (f & ~(PG_YOUNG | PG_REFERENCED | (a * PG_IDLE))) | (ref * PG_REFERENCED)
                    hits[uk] = q
                    uk += np.uint64(a)
                    vic[uv] = q
                    uv += np.uint64(not ref)
                    cum += c_scan if ref else c_victim
                    uc += _U1
                    if mask == _U0 or uc == _UBATCH or uv >= ur:
                        break
                cnt, k, bv = np.int64(uc), np.int64(uk), np.int64(uv)
                blast = bu + np.int64(b)
                continue
            b = np.int64(trailing_zeros(mask))
            mask &= mask - _U1
            uu = bu + b
            p = p0 + b
            f = flags[p]
            if uu < n:
                if direct:
                    a = next_access[p] <= t_work
                elif uu >= wu1:  # past the window: the batch undone
                    _undo(flags, rec, cnt)
                    return False, u, last, clock, nv, nc, -1
                else:
                    a = a_win[uu - wu0]
                ref = a | ((f & PG_YOUNG) != 0)
            else:
                if (f & PG_REFERENCED) == 0:  # a victim on its first visit: skipped
                    continue
                a = False
                ref = False
            rec[cnt] = (np.uint64(p) << _U8) | np.uint64(f)
            flags[p] = (f & ~(PG_YOUNG | PG_REFERENCED | (a * PG_IDLE))) | (ref * PG_REFERENCED)
            hits[k] = p
            k += a
            vic[bv] = p
            bv += not ref
            cum += c_scan if ref else c_victim
            cnt += 1
            blast = uu
        if cnt == 0:
            return True, limit, last, clock, nv, nc, limit
        if cum > budget and clock != 0.0:  # the batch does not run: its flags back
            _undo(flags, rec, cnt)
            return True, u, last, clock, nv, nc, last + 1
        # The set A bits redrawn (in CLOCK order) or listed to clear; the victims' time.
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
        for i in range(bv):
            done[nv + i] = cum
        nv += bv
        clock = cum
        last = blast
        u = last + 1
        if nv >= need:
            return True, u, last, clock, nv, nc, u


@numba.njit(cache=True, nogil=True, error_model="numpy")
def kswapd_chunk(pg: Pages, nodes: Nodes, bits: ABits, ks: Kswapd, d: int, t: int, budget: float,
                 out: Chunk):  # pragma: no cover (compiled)
    """One chunk of node d's kswapd from event time t (us) in one call, when
    the walk reads and redraws the A bits itself (one segment of Poisson
    pages): Kswapd._kswapd_run's rounds, each kswapd_clock's walk (as
    Kswapd._rule_kswapd_victims runs it) and relocate's moves to the slow node with
    the most free pages, the sums added round by round as Memory.move adds
    them (to out.node_rate in place; to out.fast_rate and out.fast_lag, the
    fast tier's rate and lag, returned). Per node state in ks: hand, scanned
    (CLOCK steps this run; 2n: give up), left (victims left this round).
    out.victims and out.at_us get the chunk's victims and move times.
    Returns (clock, victims, fast_rate, fast_lag, the set A bits found (each
    redrawn), whether the run may go on: fewer than 2n CLOCK steps)."""
    pg, nodes, bits = Pages(*pg), Nodes(*nodes), ABits(*bits)  # names back
    ks, out = Kswapd(*ks), Chunk(*out)
    node = pg.node
    n = node.shape[0]
    free, wmark_high = nodes.free, nodes.wmark_high
    hand, scanned, left, wmark, slow_nodes = ks.hand, ks.scanned, ks.left, ks.wmark, ks.slow_nodes
    victims, at_us, node_rate = out.victims, out.at_us, out.node_rate
    fast_rate, fast_lag = out.fast_rate, out.fast_lag
    clock = 0.0
    nv_all = 0
    n_set = 0
    clear = np.empty(1, np.int64)
    mv = Moves(np.zeros(node_rate.shape[0]), np.zeros(node_rate.shape[0]), np.zeros(2), float(t))
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
            pg, bits, Clock(d, h, need, limit, budget, ks.c_scan, ks.c_victim), 0, -1, clock, 0,
            Victims(vic, done, clear))
        n_set += nc
        hand[d] = (h + u_stop) % n
        scanned[d] += u_stop
        for i in range(nv):
            done[i] = t + done[i] / 1000.0
        mv.node_in[:] = 0.0
        mv.node_out[:] = 0.0
        mv.sums[:] = 0.0
        relocate(pg, nodes, mv, vic[:nv], done[:nv], d, dest, False)
        add_node_rates(mv, node_rate)
        fast_rate += mv.sums[0]
        fast_lag += mv.sums[1]
        nv_all += nv
        left[d] -= nv
        if nv < need:
            break  # the next event comes first, or two full turns
    return clock, nv_all, fast_rate, fast_lag, n_set, scanned[d] < 2 * n
