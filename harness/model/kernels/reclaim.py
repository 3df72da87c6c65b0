"""kswapd's reclaim walk in compiled code: the CLOCK over a node's pages
(kswapd_clock, each batch's victims depend on the hand's path so far) and
a whole chunk of rounds, walks and moves (kswapd_chunk)."""

from __future__ import annotations

import numba
import numpy as np

from harness.model.draws import exponential
from harness.model.kernels.moves import relocate
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

_BLOCK = 256  # slots _find_node looks at a call
# The flags folio_referenced leaves, by whether the A bit was set (which clears PG_idle).
_KEEP = np.array([0xFF ^ (PG_YOUNG | PG_REFERENCED), 0xFF ^ (PG_YOUNG | PG_REFERENCED | PG_IDLE)],
                 dtype=np.uint8)


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
    out.clear and the victims, with the batch's end time, to out.pages and
    out.done from index nv (each one longer than it can fill: stores land
    before counts move).

    Returns (finished, u, last, clock, nv, n_clear, u_stop): not finished
    when a first-turn page past the window needs its A bit (call again with
    a window from u); u_stop is where the hand stops.
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
    cost = np.array([c_victim, c_scan])  # by referenced
    nc = 0
    bp = np.empty(SWAP_CLUSTER_MAX, np.int64)
    ba = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    br = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    hits = np.empty(SWAP_CLUSTER_MAX, np.int64)
    # Offsets of node d's pages ahead, found a block at a time without a
    # branch per page (most pages are on other nodes).
    found = np.empty(_BLOCK + SWAP_CLUSTER_MAX, np.int64)
    fi = fn = 0
    su = u  # the next offset to look at
    while True:
        cnt = 0
        bv = 0
        cum = clock
        blast = last
        if direct and fn - fi < SWAP_CLUSTER_MAX and su < limit:
            # Top the found offsets up to a batch's worth: the rest to the
            # front, a block found after them.
            rem = fn - fi
            for c in range(rem):
                found[c] = found[fi + c]
            fn = rem + _find_node(node, d, hand, su, min(su + _BLOCK, limit), found[rem:])
            fi = 0
            su = min(su + _BLOCK, limit)
        if (direct and nv < need and fn - fi >= SWAP_CLUSTER_MAX
                and found[fi + SWAP_CLUSTER_MAX - 1] < n):
            # A whole batch of first-turn pages is found already: their
            # references read in one loop without a branch per page, the
            # batch cut at the need-th victim, its clock summed in order.
            for c in range(SWAP_CLUSTER_MAX):
                p = hand + found[fi + c]
                if p >= n:
                    p -= n
                a = next_access[p] <= t_work
                bp[c] = p
                ba[c] = a
                br[c] = a | ((flags[p] & PG_YOUNG) != 0)
            cnt = SWAP_CLUSTER_MAX
            for c in range(SWAP_CLUSTER_MAX):
                bv += not br[c]
                if nv + bv >= need:
                    cnt = c + 1
                    break
            for c in range(cnt):
                cum += cost[np.int64(br[c])]
            fi += cnt
            blast = found[fi - 1]
        else:
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def kswapd_chunk(pg: Pages, nodes: Nodes, bits: ABits, ks: Kswapd, d: int, t: int, budget: float,
                 out: Chunk):  # pragma: no cover (compiled)
    """One chunk of node d's kswapd from event time t (us) in one call, when
    the walk reads and redraws the A bits itself (one segment of Poisson
    pages): Kswapd._kswapd_run's rounds, each kswapd_clock's walk (as
    Kswapd._rule_kswapd_victims runs it) and relocate's moves to the slow node with
    the most free pages, the sums added round by round as Memory.move adds
    them (out.node_rate; out.fast: the fast tier's rate and lag). Per node
    state in ks: hand, scanned (CLOCK steps this run; 2n: give up), left
    (victims left this round). out.victims and out.at_us get the chunk's
    victims and move times. Returns (clock, victims)."""
    pg, nodes, bits = Pages(*pg), Nodes(*nodes), ABits(*bits)  # names back
    ks, out = Kswapd(*ks), Chunk(*out)
    node = pg.node
    n = node.shape[0]
    free, wmark_high = nodes.free, nodes.wmark_high
    hand, scanned, left, wmark, slow_nodes = ks.hand, ks.scanned, ks.left, ks.wmark, ks.slow_nodes
    victims, at_us, node_rate, fast = out.victims, out.at_us, out.node_rate, out.fast
    clock = 0.0
    nv_all = 0
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
        hand[d] = (h + u_stop) % n
        scanned[d] += u_stop
        for i in range(nv):
            done[i] = t + done[i] / 1000.0
        mv.node_in[:] = 0.0
        mv.node_out[:] = 0.0
        mv.sums[:] = 0.0
        relocate(pg, nodes, mv, vic[:nv], done[:nv], d, dest, False)
        for i in range(node_rate.shape[0]):
            node_rate[i] += mv.node_in[i] - mv.node_out[i]
        fast[0] += mv.sums[0]
        fast[1] += mv.sums[1]
        nv_all += nv
        left[d] -= nv
        if nv < need:
            break  # the next event comes first, or two full turns
    return clock, nv_all
