"""kswapd's compiled CLOCK walk (kernels.kswapd_clock, through
Memory._rule_kswapd_victims) against the per-page reference walk
(ReferenceMemory._rule_kswapd_victims) on random states: node d's pages
scattered, any flags and A bits, the hand anywhere, any CLOCK steps already
taken (a second turn), any budget. The walk reads the A bits itself and
redraws them (one Poisson segment), lists them to clear (two segments), or
reads them from peeked windows (no joint next-access array). Equal victims,
times, clock, hand, steps, flags, A bits, draws and count of A bits found set."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config import from_dict
from harness.model import Sim
from harness.model.policies import make_policy
from harness.model.reference import make_reference_sim
from tests.helpers.simcfg import gb

N = 300  # pages: straight runs of 64 and shorter ones, a wrap


def _cfg(segments: int, scan_ns: float, move_us: float):
    n = N // segments
    workloads = [dict(kind="zipf", size_gb=gb(n), access_rate=3000, placement="slow", vma_mb=0,
                      seed_offset=i) for i in range(segments)]
    return from_dict(dict(
        seed=3, duration_s=1, sample_ms=500,
        costs=dict(kswapd_scan_ns=scan_ns, migrate_page_us=move_us, tlb_shootdown_us=0.0),
        platform=dict(nodes=[dict(id=0, tier="fast", capacity_gb=gb(N)),
                             dict(id=1, tier="slow", capacity_gb=gb(2 * N))]),
        workloads=workloads, policy=dict(kind="none")), "test")


def _state(mem):
    segs = mem.bits.segments
    return dict(flags=mem.pgflags.copy(), hand=mem.kswapd_hand.copy(),
                scanned=mem.kswapd_scanned.copy(),
                next_access=np.concatenate([s.access.next_access for s in segs]),
                streams=[s.access.stream.state.copy() for s in segs],
                accessed=mem.counters.kswapd_accessed)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(["redraw", "clear", "window"]),
       costs=st.sampled_from([(250.0, 5.0), (100.0, 3.3), (0.0, 0.0), (33.3, 0.7)]),
       seed=st.integers(0, 2**32 - 1),
       share=st.sampled_from([0.05, 0.25, 0.6, 0.95, 1.0]),
       need=st.integers(1, 120), hand=st.integers(0, N - 1), scanned=st.integers(0, 2 * N),
       budget=st.sampled_from([math.inf, 0.0, 3e3, 4e4, 2e5]),
       clock=st.sampled_from([0.0, 1000.0]))
def test_compiled_walk_matches_the_reference(mode, costs, seed, share, need, hand, scanned,
                                             budget, clock):
    cfg = _cfg(2 if mode == "clear" else 1, *costs)
    rng = np.random.default_rng(seed)
    node = np.where(rng.random(N) < share, 0, 1).astype(np.int8)
    flags = rng.integers(0, 8, N).astype(np.uint8)
    ahead = rng.choice([-5.0, 5.0, np.inf], N, p=[0.5, 0.4, 0.1])  # A bit set: due already
    out = []
    for sim in (Sim(cfg, make_policy(cfg.policy)), make_reference_sim(cfg)):
        mem = sim.mem
        mem.node[:] = node
        mem.pgflags[:] = flags
        mem.kswapd_hand[0] = hand
        mem.kswapd_scanned[0] = scanned
        for s in mem.bits.segments:
            s.access.next_access[:] = ahead[s.lo:s.hi] + float(mem.bits.work_now())
        if mode == "window":
            mem.bits.next_access = None  # peeked windows, cleared after the walk
        victims, done, end = mem._rule_kswapd_victims(0, need, clock, budget)
        out.append((list(victims), list(done), end, _state(mem)))
    (v1, d1, c1, s1), (v2, d2, c2, s2) = out
    assert v1 == v2
    assert d1 == d2 and c1 == c2
    assert s1["accessed"] == s2["accessed"]  # the A bits found set (cleared, redrawn)
    for key in ("flags", "hand", "scanned", "next_access"):
        np.testing.assert_array_equal(s1[key], s2[key], err_msg=key)
    for a, b in zip(s1["streams"], s2["streams"], strict=True):
        np.testing.assert_array_equal(a, b, err_msg="stream")
