"""The model's random draws where they are many: each Poisson page's next
access after an A-bit clear (an exponential), and whether a set A bit reads
clear (a uniform).

numpy's own draws, bit for bit: PCG64 (XSL-RR 128/64) bits and numpy's
ziggurat for standard_exponential, inlined into the kernels with the state
in registers. A kernel takes a stream's state, 4 x uint64, not a
Generator: numba types a Generator argument in about 7 us on every call
(0.25 us for an array), which kswapd's 100k chunks a run paid, and calls
its bits through a function pointer.

A stream starts where ``np.random.default_rng(entropy)`` starts and draws
what it would draw; kernels and Python calls advance the same state, so a
stream is one sequence whichever of them takes the draws.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# numpy's ziggurat tables for Exp(1) (its ziggurat_constants.h), as numba
# copies them for its own Generator support.
from numba.np.random._constants import fe_double as FE
from numba.np.random._constants import ke_double as KE
from numba.np.random._constants import we_double as WE
from numba.np.random._constants import ziggurat_exp_r as ZIGGURAT_EXP_R

# PCG64's multiplier (PCG_DEFAULT_MULTIPLIER_128), high and low words.
_MUL_HI, _MUL_LO = np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2^-53
_U3, _U8, _U11, _U58, _U63, _U64, _UFF = (np.uint64(k) for k in (3, 8, 11, 58, 63, 64, 0xFF))
_MASK64 = (1 << 64) - 1


@intrinsic
def _mul_64x64(typingctx, a, b):  # pragma: no cover (compiled)
    """The 128-bit product of two uint64, as (high, low) words: one mul."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        lo = builder.trunc(p, ir.IntType(64))
        hi = builder.trunc(builder.lshr(p, ir.Constant(i128, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, [hi, lo])

    return sig, codegen


@numba.njit(inline="always")
def next_u64(sh, sl, ih, il):  # pragma: no cover (compiled)
    """PCG64's step (state = state x multiplier + inc, mod 2^128) and its
    XSL-RR output of the new state: (64 bits, state high, state low)."""
    hi, lo = _mul_64x64(sl, _MUL_LO)
    hi += sl * _MUL_HI + sh * _MUL_LO
    sl = lo + il
    sh = hi + ih + np.uint64(sl < lo)  # the carry
    x = sh ^ sl
    rot = sh >> _U58
    return (x >> rot) | (x << ((_U64 - rot) & _U63)), sh, sl


@numba.njit(inline="always")
def uniform(sh, sl, ih, il):  # pragma: no cover (compiled)
    """Generator.random(): U[0, 1) from 53 bits, and the state."""
    r, sh, sl = next_u64(sh, sl, ih, il)
    return (r >> _U11) * _TO_DOUBLE, sh, sl


@numba.njit(inline="always")
def exponential(sh, sl, ih, il):  # pragma: no cover (compiled)
    """Generator.standard_exponential() (numpy's
    random_standard_exponential, its ziggurat), and the state."""
    while True:
        r, sh, sl = next_u64(sh, sl, ih, il)
        ri = r >> _U3
        idx = ri & _UFF
        ri >>= _U8
        x = ri * WE[idx]
        if ri < KE[idx]:
            return x, sh, sl
        u, sh, sl = uniform(sh, sl, ih, il)
        if idx == 0:  # the tail: memoryless, a shifted Exp(1)
            return ZIGGURAT_EXP_R - np.log1p(-u), sh, sl
        if (FE[idx - 1] - FE[idx]) * u + FE[idx] < np.exp(-x):
            return x, sh, sl


@numba.njit(cache=True, nogil=True)
def _fill(state, out, exp):  # pragma: no cover (compiled)
    sh, sl, ih, il = state[0], state[1], state[2], state[3]
    if exp:
        for i in range(out.shape[0]):
            out[i], sh, sl = exponential(sh, sl, ih, il)
    else:
        for i in range(out.shape[0]):
            out[i], sh, sl = uniform(sh, sl, ih, il)
    state[0], state[1] = sh, sl


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fill_next_access(state, rates, t, out, safe):  # pragma: no cover (compiled)
    sh, sl, ih, il = state[0], state[1], state[2], state[3]
    for i in range(out.shape[0]):
        e, sh, sl = exponential(sh, sl, ih, il)
        x = e * (1e6 / rates[i]) + t  # numpy's order: e *= 1e6 / rates; e += t
        out[i] = np.inf if safe and np.isnan(x) else x
    state[0], state[1] = sh, sl


@numba.njit(cache=True, nogil=True)
def _one(state, exp):  # pragma: no cover (compiled)
    sh, sl, ih, il = state[0], state[1], state[2], state[3]
    if exp:
        x, sh, sl = exponential(sh, sl, ih, il)
    else:
        x, sh, sl = uniform(sh, sl, ih, il)
    state[0], state[1] = sh, sl
    return x


class Stream:
    """One seeded stream of draws, default_rng(entropy)'s. `state` (state
    and increment, high word first) is what kernels take and advance; the
    methods draw from Python under Generator's names."""

    def __init__(self, entropy):
        s = np.random.default_rng(entropy).bit_generator.state["state"]
        st, inc = s["state"], s["inc"]
        self.state = np.array([st >> 64, st & _MASK64, inc >> 64, inc & _MASK64],
                              dtype=np.uint64)

    def _draw(self, size: int | None, exp: bool):
        if size is None:  # one draw (the per-page reference's): no array
            return _one(self.state, exp)
        out = np.empty(size)
        _fill(self.state, out, exp)
        return out

    def standard_exponential(self, size: int | None = None):
        return self._draw(size, True)

    def random(self, size: int | None = None):
        return self._draw(size, False)

    def next_access(self, t: float, rates: np.ndarray, out: np.ndarray | None = None,
                    safe: bool = False) -> np.ndarray:
        """t + Exp(1) x 1e6 / rates (us) per page, in one pass without
        temporaries (what standard_exponential, a divide, a multiply and an add
        give, bit for bit), into `out` if given. `safe`: a zero rate's NaN
        (0 x inf) becomes inf, never."""
        if out is None:
            out = np.empty(len(rates))
        _fill_next_access(self.state, rates, float(t), out, safe)
        return out


NO_STREAM = np.zeros(4, dtype=np.uint64)  # a kernel's stream when it draws nothing


def warm_up() -> None:
    """Compile (or load from the cache) the fill kernels."""
    s = Stream(0)
    s.standard_exponential(2)
    s.standard_exponential()
    s.next_access(0.0, np.ones(2))
