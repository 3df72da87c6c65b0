"""The model's compiled draws are numpy's, bit for bit: a Stream draws what
np.random.default_rng of the same entropy draws, in any mix of sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model.draws import ZIGGURAT_EXP_R, Stream
from harness.model.kernels import scatter_shuffled


@pytest.mark.parametrize("entropy", [0, 7, [3, 1, 0xACCE55], [12345, 0xB17]])
def test_stream_draws_what_default_rng_draws(entropy):
    s, g = Stream(entropy), np.random.default_rng(entropy)
    state = s.state  # kernels take this array and advance it in place
    big = s.standard_exponential(300_000)
    assert np.array_equal(big, g.standard_exponential(300_000))
    # The ziggurat's tail (beyond its base layer) and its wedges are drawn too.
    assert (big > ZIGGURAT_EXP_R).any()
    for size in (None, 1, 5, None, 1000):
        assert np.array_equal(s.standard_exponential(size), g.standard_exponential(size))
        assert np.array_equal(s.random(size), g.random(size))
    assert s.state is state


def test_next_access_is_numpys_formula():
    """t + Exp(1) x 1e6 / rate as RateAccess drew it with numpy (the draws,
    a divide, a multiply, an add); `safe` turns a zero rate's NaN into inf."""
    rates = np.random.default_rng(1).uniform(0.5, 200.0, 5000)
    rates[::7] = 0.0
    s, g = Stream(9), np.random.default_rng(9)
    got = s.next_access(1234, rates, safe=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = g.standard_exponential(len(rates))
        e *= 1e6 / rates
        e += 1234
    want = np.where(np.isnan(e), np.inf, e)
    assert np.array_equal(got, want)
    assert np.isinf(got[::7]).all() and np.isfinite(got[1::7]).all()
    out = np.empty(len(rates))
    s.next_access(99, rates[1::7], out=out[: len(rates[1::7])])
    assert np.array_equal(out[: len(rates[1::7])], 99 + g.standard_exponential(len(rates[1::7]))
                          * (1e6 / rates[1::7]))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), entropy=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4))
def test_scatter_shuffled_is_numpys_shuffle_then_scatter(n, entropy):
    """The zipf workload's page order: Generator.shuffle of arange(n) (int32)
    and the rates scattered through it (here in place), bit for bit, from the
    same entropy."""
    weights = np.random.default_rng(n).random(n)
    perm = np.arange(n, dtype=np.int32)
    np.random.default_rng(entropy).shuffle(perm)
    want = np.empty(n)
    want[perm] = weights
    got = weights.copy()
    scatter_shuffled(Stream(entropy).state, got)
    assert np.array_equal(got, want)


def test_scatter_shuffled_matches_numpy_past_the_prefetch_distance_and_32_bit_halves():
    # Sizes around how far ahead the partners' lines are fetched, and a size where
    # random_interval's 32-bit draws reject often (just above a power of two).
    for n in (15, 16, 17, 33, 65_537, 1 << 20):
        weights = np.linspace(1.0, 2.0, n)
        perm = np.arange(n, dtype=np.int32)
        np.random.default_rng([1, 0, 0, 0x21BF]).shuffle(perm)
        want = np.empty(n)
        want[perm] = weights
        got = weights.copy()
        scatter_shuffled(Stream([1, 0, 0, 0x21BF]).state, got)
        assert np.array_equal(got, want), n
