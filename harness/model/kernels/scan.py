"""The PTE scanner's walk in compiled code (scan_ptes): one VMA's PTEs in
order, the A bits tested, cleared and redrawn in page order (each redraw
advances one stream, so the order is the rule)."""

from __future__ import annotations

import numba
import numpy as np

from harness.model.draws import exponential, uniform
from harness.model.kernels.records import (
    I32,
    I64,
    PG_IDLE,
    PG_REFERENCED,
    PG_YOUNG,
    ABits,
    Pages,
    ScanRules,
)

_PG_FLAGS = PG_IDLE | PG_YOUNG | PG_REFERENCED
# PTEs scan_ptes takes a block: 64 was the fastest of 16-1024 on a 4 M-page
# VMA with 70% of A bits set (5.2 ns a PTE, against 6.0 at 256), likely
# because a block's redraws, one serial chain of draws, are then short
# enough for the CPU to overlap them with the next block's loops.
_SCAN_BLOCK = 64


@numba.njit(cache=True, nogil=True, error_model="numpy")
def scan_ptes(pg: Pages, bits: ABits, rules: ScanRules, lo: int, hi: int, scanned: I64,
              cand: I32):  # pragma: no cover (compiled)
    """One VMA's PTEs [lo, hi) (page indices), in order: the RFC scanner's
    hot_vma_idle_pte_entry (kmmscand) or kscand's.

    The A bit (bits.next_access and bits.rate are the VMA's slices, index i - lo):
    next_access <= t_work; a set bit is cleared and the next access redrawn,
    t_work + Exp(1) x 1e6 / rate, from `stream` (the segment's Poisson pages,
    the same draws as RateAccess's, in page order).
    When bits.given is not empty, it holds the A bits, already tested and
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
    pg, bits, rules = Pages(*pg), ABits(*bits), ScanRules(*rules)  # names back
    next_access, rate, stream, t_work, a_given = (bits.next_access, bits.rate, bits.stream,
                                                  bits.t_work, bits.given)
    node, flags = pg.node, pg.flags
    slow_of, kscand, second_access = rules.slow_of, rules.kscand, rules.second_access
    miss_stream, a_bit_miss = rules.miss_stream, rules.a_bit_miss
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
