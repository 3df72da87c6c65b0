"""A page order drawn as numpy draws it, in compiled code: the zipf workload's
rank-to-page permutation (Generator.shuffle of arange(n)) and the scatter of
the ranks' rates onto their pages.

Bit for bit what ``rng.shuffle(perm); out[perm] = weights`` gives: numpy's
Fisher-Yates (_shuffle_raw: i from n - 1 down to 1, swap with
random_interval(i)), random_interval's masked rejection on 32-bit draws, and
PCG64's next_uint32 (the low half of a 64-bit draw, then its high half). The
swap partners do not depend on the array, so they are drawn a few swaps
ahead and their cache lines fetched before the swap needs them: at 16 M
pages each swap and each scattered rate is a miss to memory otherwise.
"""

from __future__ import annotations

import numba
import numpy as np

from harness.model.draws import next_u64
from harness.model.kernels.moves import prefetch
from harness.model.kernels.records import F64, U64

_AHEAD = 16  # swaps (and scattered rates) whose cache lines are fetched ahead
_U1, _U2, _U4, _U8, _U16, _U32 = (np.uint64(k) for k in (1, 2, 4, 8, 16, 32))
_LOW32 = np.uint64(0xFFFFFFFF)


@numba.njit(inline="always")
def _interval(top, sh, sl, ih, il, has32, buf32):  # pragma: no cover (compiled)
    """random_interval(top) for 0 < top < 2^32: next_uint32 & mask until <= top
    (mask: the smallest all-ones value >= top), and the stream's state."""
    mask = np.uint64(top)
    mask |= mask >> _U1
    mask |= mask >> _U2
    mask |= mask >> _U4
    mask |= mask >> _U8
    mask |= mask >> _U16
    while True:
        if has32:  # the high half of the last 64-bit draw
            has32 = False
            v = buf32
        else:
            r, sh, sl = next_u64(sh, sl, ih, il)
            has32 = True
            buf32 = r >> _U32
            v = r & _LOW32
        v &= mask
        if v <= np.uint64(top):
            return np.int64(v), sh, sl, has32, buf32


@numba.njit(cache=True, nogil=True)
def scatter_shuffled(state: U64, weights: F64, out: F64):  # pragma: no cover (compiled)
    """out[perm] = weights, perm = arange(n) shuffled by a fresh
    Generator(PCG64) whose state (high word first, then the increment's) is
    `state`, as its shuffle leaves it (n = len(weights) < 2^31: perm's dtype
    is int32, numpy's too)."""
    n = weights.shape[0]
    perm = np.empty(n, np.int32)
    for i in range(n):
        perm[i] = i
    sh, sl, ih, il = state[0], state[1], state[2], state[3]
    has32, buf32 = False, np.uint64(0)
    swaps = n - 1  # i = n - 1 down to 1
    ring = np.empty(_AHEAD, np.int64)  # the partners of the next swaps
    for s in range(min(_AHEAD, swaps)):
        j, sh, sl, has32, buf32 = _interval(n - 1 - s, sh, sl, ih, il, has32, buf32)
        ring[s] = j
        prefetch(perm, j)
    for s in range(swaps):
        i = n - 1 - s
        slot = s % _AHEAD
        j = ring[slot]
        if s + _AHEAD < swaps:
            jn, sh, sl, has32, buf32 = _interval(i - _AHEAD, sh, sl, ih, il, has32, buf32)
            ring[slot] = jn
            prefetch(perm, jn)
        x = perm[j]
        perm[j] = perm[i]
        perm[i] = x
    for i in range(n):
        if i + _AHEAD < n:
            prefetch(out, perm[i + _AHEAD])
        out[perm[i]] = weights[i]
