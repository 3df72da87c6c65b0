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

# error_model="numpy": IEEE division (a rate of 0 gives an infinite mean gap,
# as in numpy), not Python's ZeroDivisionError.

# Empty arrays and a generator for the kernels' optional inputs ("not given";
# numba needs a value of the same type), shared by their callers.
NO_BOOLS = np.zeros(0, dtype=np.bool_)
NO_FLOATS = np.zeros(0)
NO_RNG = np.random.default_rng(0)  # never drawn from

# Page flags, as in memory.py (numba reads module globals as constants).
PG_IDLE, PG_YOUNG, PG_REFERENCED = 1, 2, 4
_PG_FLAGS = PG_IDLE | PG_YOUNG | PG_REFERENCED
_KEEP_IDLE = np.array([0xFF, 0xFF ^ PG_IDLE], dtype=np.uint8)  # by A bit: it clears PG_idle
SWAP_CLUSTER_MAX = 32
_BLOCK = 256
# The flags folio_referenced leaves, by whether the A bit was set (which clears PG_idle).
_KEEP = np.array([0xFF ^ (PG_YOUNG | PG_REFERENCED), 0xFF ^ (PG_YOUNG | PG_REFERENCED | PG_IDLE)],
                 dtype=np.uint8)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def kswapd_clock(node, flags, next_access, rate, rng, t_work, a_win, wu0, wu1, hand, d, need,
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
    set A bit is cleared here, the next access redrawn from `rng` as
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
                hi = min(su + _BLOCK, limit)
                p = hand + su
                while p >= n:
                    p -= n
                fi = fn = 0
                for uu in range(su, hi):
                    found[fn] = uu
                    fn += node[p] == d
                    p += 1
                    if p == n:
                        p = 0
                su = hi
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
                ref = a or (flags[p] & PG_YOUNG) != 0
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
        for i in range(cnt):  # without branches: stores land, counts move on
            p = bp[i]
            a = ba[i]
            ref = br[i]
            if redraw:
                if a:
                    next_access[p] = rng.standard_exponential() * (1e6 / rate[p]) + t_work
            else:
                clear[nc] = p
                nc += a
            flags[p] = (flags[p] & _KEEP[np.int64(a)]) | (ref * PG_REFERENCED)
            victims[nv] = p
            done[nv] = cum
            nv += not ref
        clock = cum
        last = blast
        u = last + 1
        if nv >= need:
            return True, u, last, clock, nv, nc, u


# Outcome of one migration-list entry (as in policies/_kmmscand/migrator.py).
OK, NOT_HOT, SAME_NODE, INELIGIBLE, WATERMARK = 0, 1, 2, 3, 4


@numba.njit(cache=True, nogil=True, error_model="numpy")
def migrate_entries(pages, vis, dst, node, flags, node_slow, room, cost_ns, hot_check, start,
                    seen, bound, budget, reason, ends, src):  # pragma: no cover (compiled)
    """kmmmigrated's pass (kmmscand_migrate_folio per entry) over list
    entries in FIFO order, on the thread's clock from `start` (ns). An entry
    is processed only if it is visible (vis, us) when the previous one ends
    (entries before `seen` are) and it ends by `bound`. Its outcome, first
    failing check first: not hot (when hot_check: kscand's is_hot_page,
    CONFIG_PAGE_IDLE_FLAG form, `!idle && (referenced || young)` on the flags
    the scanner's last visit left, not on the A bit, which that visit
    cleared), source == destination (a page moved already, also by an
    earlier entry of this pass), source not on the slow tier, no free page
    above the destination's high watermark (`room` per node, spent by each
    success); else success. Its cost is cost_ns[outcome]. At most `budget`
    successes (-1: no limit; the pass stops at the last one).

    Writes reason[i], ends[i] (ns) and src[i] (the page's node then) of
    each processed entry and returns their number and the successes. Each
    success's page is left on its destination in `node` and `room` spent, so
    that a next call (the same pass, later entries) sees them: the caller
    puts the pages back (node[p] = src) before it moves them."""
    clock = start
    k = 0
    n_ok = 0
    for i in range(len(pages)):
        if i >= seen and vis[i] > clock / 1000:
            break
        p = pages[i]
        d = dst[i]
        s = node[p]
        f = flags[p]
        if hot_check and not ((f & PG_IDLE) == 0 and (f & (PG_YOUNG | PG_REFERENCED)) != 0):
            r = NOT_HOT
        elif s == d:
            r = SAME_NODE
        elif not node_slow[s]:
            r = INELIGIBLE
        elif room[d] <= 0:
            r = WATERMARK
        else:
            r = OK
        end = clock + cost_ns[r]
        if end > bound:
            break
        reason[i] = r
        ends[i] = end
        src[i] = s
        clock = end
        k = i + 1
        if r == OK:
            room[d] -= 1
            node[p] = d
            n_ok += 1
            if n_ok == budget:
                break
    return k, n_ok


@numba.njit(cache=True, nogil=True, error_model="numpy")
def scan_ptes(lo, hi, next_access, rate, rng, t_work, a_given, node, flags, slow_of, kscand,
              second_access, miss_rng, a_bit_miss, scanned, cand):  # pragma: no cover (compiled)
    """One VMA's PTEs [lo, hi) (page indices), in order: the RFC scanner's
    hot_vma_idle_pte_entry (kmmscand) or kscand's.

    The A bit (next_access and rate are the VMA's slices, index i - lo):
    next_access <= t_work; a set bit is cleared and the next access redrawn,
    t_work + Exp(1) x 1e6 / rate, from `rng` (the segment's Poisson pages,
    the same draws as RateAccess's, in page order).
    When `a_given` is not empty, it holds the A bits, already tested and
    cleared (exact counts). A set bit reads clear with probability a_bit_miss
    (a draw from miss_rng per set bit; x86 clears it without a TLB flush).
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
    n_top = 0
    nc = 0
    # A block at a time: list the set A bits without a branch per PTE, redraw
    # those, then the flags, again without branches.
    hit = np.empty(_BLOCK, np.int64)
    abit = np.zeros(_BLOCK, np.bool_)
    for b0 in range(lo, hi, _BLOCK):
        b1 = min(b0 + _BLOCK, hi)
        k = 0
        for i in range(b0, b1):
            j = i - lo
            hit[k] = i
            k += a_given[j] if given else next_access[j] <= t_work
            abit[i - b0] = False
        for h in range(k):
            i = hit[h]
            if not given:
                j = i - lo
                next_access[j] = rng.standard_exponential() * (1e6 / rate[j]) + t_work
            abit[i - b0] = not (a_bit_miss > 0.0 and miss_rng.random() < a_bit_miss)
        for i in range(b0, b1):
            a = abit[i - b0]
            nd = node[i]
            if nd >= 0:
                scanned[nd] += 1
            s = slow_of[nd]
            f = flags[i]
            if not kscand:
                acc = a | ((f & _PG_FLAGS) != PG_IDLE)
                f = f | PG_IDLE | (a * PG_YOUNG)
                cand[nc] = i
                nc += acc & s
                n_top += acc & (not s)
            else:
                sel = s & a & (not (second_access & ((f & PG_IDLE) != 0)))
                f = ((f | PG_IDLE) & _KEEP_IDLE[np.int64(a)]) | (a * PG_YOUNG)
                cand[nc] = i
                nc += sel
                n_top += (not s) & ((f & (PG_YOUNG | PG_REFERENCED)) != 0)
            flags[i] = f
    return n_top, nc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def relocate(pages, at_us, now, moved_at, node, dst, was_demoted,
             promote):  # pragma: no cover (compiled)
    """A thread's page moves (migrate_pages' result), per page state: each
    page's move time not before a move of it still in the future (at_us
    raised in place, moved_at remembered), its node, and the ping-pong mark
    (was_demoted: set by a demotion; a promotion clears it and counts it).
    Returns the promotions of pages that were demoted before."""
    pingpong = 0
    for i in range(len(pages)):
        p = pages[i]
        prev = moved_at[p]
        if prev > now and prev > at_us[i]:
            at_us[i] = prev
        moved_at[p] = at_us[i]
        node[p] = dst
        if promote:
            pingpong += was_demoted[p]
            was_demoted[p] = False
        else:
            was_demoted[p] = True
    return pingpong


def warm_up() -> float:
    """Compile (or load from the cache) every kernel; the seconds it took."""
    t0 = time.perf_counter()
    node = np.zeros(4, dtype=np.int8)
    flags = np.zeros(4, dtype=np.uint8)
    out = np.zeros(4, dtype=np.int64)
    rng = np.random.default_rng(0)
    kswapd_clock(node, flags, np.zeros(4), np.ones(4), rng, 0.0, np.zeros(4, dtype=np.bool_), 0,
                 4, 0, 0, 1, 8, 0, -1, 0.0, np.inf, 1.0, 2.0, out, np.zeros(4), 0,
                 np.zeros(5, dtype=np.int64))
    pages = np.zeros(1, dtype=np.int32)
    migrate_entries(pages, np.zeros(1), node[:1].copy(), node, flags, np.ones(5, dtype=np.bool_),
                    np.ones(4, dtype=np.int64), np.ones(5, dtype=np.int64), True, 0, 1, 10, -1,
                    np.zeros(1, dtype=np.int8), np.zeros(1, dtype=np.int64),
                    np.zeros(1, dtype=np.int8))
    scan_ptes(0, 1, np.zeros(1), np.ones(1), rng, 0.0, np.zeros(0, dtype=np.bool_), node, flags,
              np.ones(5, dtype=np.bool_), False, False, rng, 0.0, np.zeros(4, dtype=np.int64),
              np.zeros(1, dtype=np.int64))
    relocate(np.zeros(1, dtype=np.int64), np.zeros(1), 0.0, np.zeros(4), node, 0,
             np.zeros(4, dtype=np.bool_), True)
    relocate(np.zeros(1, dtype=np.int32), np.zeros(1), 0.0, np.zeros(4), node, 0,
             np.zeros(4, dtype=np.bool_), True)
    return time.perf_counter() - t0
