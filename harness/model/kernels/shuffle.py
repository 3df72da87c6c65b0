"""A page order drawn as numpy draws it, in compiled code: the zipf workload's
rank-to-page permutation (Generator.shuffle of arange(n)) with the ranks'
rates scattered through it onto their pages.

Bit for bit what ``rng.shuffle(perm); out[perm] = weights`` gives: numpy's
Fisher-Yates (_shuffle_raw: i from n - 1 down to 1, swap with
random_interval(i)), random_interval's masked rejection on 32-bit draws, and
PCG64's next_uint32 (the low half of a 64-bit draw, then its high half). The
swap partners do not depend on the array, so they are drawn first and each
one's cache line fetched a few swaps before it is needed: at 16 M pages
each swap is a miss to memory otherwise.
"""

from __future__ import annotations

import numba
import numpy as np

from harness.model.draws import next_u64
from harness.model.kernels.moves import prefetch
from harness.model.kernels.records import F64, U64

_AHEAD = 16  # swaps whose cache lines are fetched ahead
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
def scatter_shuffled(state: U64, x: F64):  # pragma: no cover (compiled)
    """x scattered through perm in place (x[perm[i]] takes x[i]'s value):
    perm = arange(n) as a fresh Generator(PCG64) whose state (high word
    first, then the increment's) is `state` shuffles it (n = len(x) < 2^31:
    an int32 perm, as numpy shuffles it).

    Fisher-Yates leaves perm = t_1(t_2(...t_m(.))) for its swaps t_k, so
    scattering through perm is gathering through its inverse: the same swaps
    applied to x in the opposite order. They are drawn first (in the
    stream's order) into an int32 array of partners, then applied from the
    last: no output array of n floats."""
    n = x.shape[0]
    swaps = max(n - 1, 0)  # i = n - 1 down to 1
    js = np.empty(swaps, np.int32)
    sh, sl, ih, il = state[0], state[1], state[2], state[3]
    has32, buf32 = False, np.uint64(0)
    for s in range(swaps):
        js[s], sh, sl, has32, buf32 = _interval(n - 1 - s, sh, sl, ih, il, has32, buf32)
    for s in range(swaps - 1, -1, -1):
        if s >= _AHEAD:
            prefetch(x, js[s - _AHEAD])
        i, j = n - 1 - s, js[s]
        v = x[j]
        x[j] = x[i]
        x[i] = v
