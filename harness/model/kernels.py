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

# Page flags, as in memory.py (numba reads module globals as constants).
PG_IDLE, PG_YOUNG, PG_REFERENCED = 1, 2, 4
SWAP_CLUSTER_MAX = 32
_CLEAR_YOUNG_REF = np.uint8(0xFF ^ (PG_YOUNG | PG_REFERENCED))
_CLEAR_IDLE = np.uint8(0xFF ^ PG_IDLE)


@numba.njit(cache=True, nogil=True)
def kswapd_clock(node, flags, a_win, wu0, wu1, hand, d, need, limit, u, last, clock, budget,
                 c_scan, c_victim, victims, done, nv, clear):  # pragma: no cover (compiled)
    """Reclaim's CLOCK on node d (shrink_folio_list over isolated batches of
    SWAP_CLUSTER_MAX pages, folio_referenced and folio_check_references per
    page), from offset u of this call (page (hand + u) % n; offsets n and
    beyond are the second turn), batch by batch.

    A batch collects up to SWAP_CLUSTER_MAX pages of node d, ending early at
    the need-th victim. On the first turn a page is referenced if its A bit
    (a_win[u - wu0], for offsets [wu0, wu1)) or PG_young is set; on the
    second turn a page passed over on the first (it has PG_referenced now) is
    a victim and a victim (PG_referenced clear) is skipped. A batch costs
    c_scan per page plus c_victim per victim; it runs only if it ends by
    `budget` or the clock is still 0. Running it sets the flags (an A bit
    cleared clears PG_idle; PG_young and PG_referenced cleared; a referenced
    page gets PG_referenced) and appends the pages whose A bit to clear to
    `clear` and the victims, with the batch's end time, to `victims`/`done`.

    Returns (finished, u, last, clock, nv, n_clear, u_stop): not finished
    when a first-turn page past the window needs its A bit (call again with
    a window from u); u_stop is where the hand stops.
    """
    n = node.shape[0]
    nc = 0
    bp = np.empty(SWAP_CLUSTER_MAX, np.int64)
    ba = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    br = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    bt = np.zeros(SWAP_CLUSTER_MAX, np.bool_)
    while True:
        cnt = 0
        bv = 0
        cum = clock
        uu = u
        blast = last
        while cnt < SWAP_CLUSTER_MAX and nv + bv < need and uu < limit:
            p = hand + uu
            while p >= n:
                p -= n
            if node[p] == d:
                if uu < n:
                    if uu >= wu1:
                        return False, u, last, clock, nv, nc, -1
                    a = a_win[uu - wu0]
                    ref = a or (flags[p] & PG_YOUNG) != 0
                    again = False
                else:
                    if uu - n >= u:  # its first visit is in this batch, not run yet
                        passed = False
                        for j in range(cnt):
                            if bp[j] == p:
                                passed = br[j]
                    else:
                        passed = (flags[p] & PG_REFERENCED) != 0
                    if not passed:
                        uu += 1
                        continue
                    a = False
                    ref = False
                    again = True
                bp[cnt] = p
                ba[cnt] = a
                br[cnt] = ref
                bt[cnt] = again
                if ref:
                    cum += c_scan
                else:
                    cum += c_victim
                    bv += 1
                cnt += 1
                blast = uu
            uu += 1
        if cnt == 0:
            return True, uu, last, clock, nv, nc, uu
        if cum > budget and clock != 0.0:
            return True, u, last, clock, nv, nc, last + 1
        for i in range(cnt):
            p = bp[i]
            f = flags[p]
            if ba[i]:
                clear[nc] = p
                nc += 1
                f &= _CLEAR_IDLE
            f &= _CLEAR_YOUNG_REF
            if br[i]:
                f |= PG_REFERENCED
            else:
                victims[nv] = p
                done[nv] = cum
                nv += 1
            flags[p] = f
        clock = cum
        u = uu
        last = blast
        if nv >= need:
            return True, u, last, clock, nv, nc, last + 1


def warm_up() -> float:
    """Compile (or load from the cache) every kernel; the seconds it took."""
    t0 = time.perf_counter()
    node = np.zeros(4, dtype=np.int8)
    flags = np.zeros(4, dtype=np.uint8)
    out = np.zeros(4, dtype=np.int64)
    kswapd_clock(node, flags, np.zeros(4, dtype=np.bool_), 0, 4, 0, 0, 1, 8, 0, -1, 0.0,
                 np.inf, 1.0, 2.0, out, np.zeros(4), 0, out.copy())
    return time.perf_counter() - t0
