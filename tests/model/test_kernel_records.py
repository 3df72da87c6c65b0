"""The kernels' records: the warm-up, derived from the kernels' annotations,
compiles each kernel for the types the model's callers pass (a mismatch
would compile again inside a run)."""

from __future__ import annotations

from harness.model import Sim, simulate
from harness.model.kernels import KERNELS, warm_up
from harness.model.policies import make_policy
from harness.tools.bench import bench_config


def test_a_run_compiles_nothing_past_the_warm_up():
    warm_up()
    before = {k.__name__: set(k.signatures) for k in KERNELS}
    m = simulate(bench_config(0.0625, 5.0)).metrics  # kmmscand: scanner, migrator, kswapd
    assert m["promotions"] > 0 and m["demotions"] > 0  # the kernels ran
    after = {k.__name__: set(k.signatures) for k in KERNELS}
    assert after == before


def test_memory_records_hold_its_current_arrays_after_a_run():
    """Memory builds its kernels' Pages and Nodes records once: they must
    still hold the arrays it changes after a run (a process's placement and
    the moves work in place)."""
    cfg = bench_config(0.0625, 5.0)
    sim = Sim(cfg, make_policy(cfg.policy))
    sim.run()
    mem = sim.mem
    assert mem.counters.demotions > 0 and mem.counters.promotions > 0
    pages = (mem.node, mem.pgflags, mem.moved_at, mem.was_demoted, mem.rate)
    assert all(a is b for a, b in zip(mem.page_state(), pages, strict=True))
    nodes = (mem.node_is_fast, mem.free, mem.wmark_high)
    assert all(a is b for a, b in zip(mem.node_state(), nodes, strict=True))
