"""The kernels' records: the warm-up, derived from the kernels' annotations,
compiles each kernel for the types the model's callers pass (a mismatch
would compile again inside a run)."""

from __future__ import annotations

from harness.model import simulate
from harness.model.kernels import KERNELS, warm_up
from harness.tools.bench import bench_config


def test_a_run_compiles_nothing_past_the_warm_up():
    warm_up()
    before = {k.__name__: set(k.signatures) for k in KERNELS}
    m = simulate(bench_config(0.0625, 5.0)).metrics  # kmmscand: scanner, migrator, kswapd
    assert m["promotions"] > 0 and m["demotions"] > 0  # the kernels ran
    after = {k.__name__: set(k.signatures) for k in KERNELS}
    assert after == before
