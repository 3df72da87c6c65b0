"""The model's compiled draws are numpy's, bit for bit: a Stream draws what
np.random.default_rng of the same entropy draws, in any mix of sizes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.model.draws import ZIGGURAT_EXP_R, Stream


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

