"""Property tests: invariants of the model on random small configurations.

Checked after every event (Sim.after_event) and at every page move:
pages are conserved, no node goes above its capacity, no promotion by the
kernel mechanisms (kmmscand, numab2) takes a destination to or under its high
watermark, a page is never moved twice by one call, and after each per-mm
adaptation scan_period and scan_size lie within the version's clamps.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config import MIB, from_dict
from harness.model import simulate
from harness.model.engine import Sim
from harness.model.policies import make_policy
from harness.model.reference import make_reference_sim
from tests.conftest import parametrize_policy
from tests.helpers.simcfg import gb, mismatches, random_cfg

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def check_conservation(sim: Sim) -> None:
    alive = np.zeros(sim.n_pages, dtype=bool)
    for mm in sim.mms:
        alive[mm.spec.lo:mm.spec.hi] = mm.alive
    mem = sim.mem
    # The policy's nodes also hold the migration list's slab pages (kmmscand).
    slab = getattr(getattr(sim.policy, "queue", None), "slab", None)
    if slab is not None:
        assert (mem.slab_pages == -(-slab.live // slab.per_page)).all()
        assert int(slab.live.sum()) == sim.policy.queue.length
    for node, free, held in ((mem.node, mem.free, mem.slab_pages),
                             (mem.base_node, mem.base_free, 0)):
        # Every page of a live process is on exactly one node, no other page is.
        assert ((node >= 0) & (node < mem.n_nodes))[alive].all()
        assert (node[~alive] == -1).all()
        used = np.bincount(node[alive].astype(np.int64), minlength=mem.n_nodes)
        assert int(used.sum()) == int(alive.sum())
        assert (used + held + free == mem.capacity).all()
        assert (free >= 0).all(), "a node above its capacity"


def instrument(sim: Sim, events: list) -> None:
    """Check invariants after every event and around every move and adaptation."""
    cfg = sim.cfg.policy
    kernel_promoter = cfg.kind in ("kmmscand", "numab2")
    mem = sim.mem
    move = mem.move

    def checked_move(pages, dst, kind, *args, **kwargs):
        pages = np.asarray(pages, dtype=np.int64)
        assert len(np.unique(pages)) == len(pages), "a page moved twice in one call"
        dsts = np.broadcast_to(np.asarray(dst, dtype=np.int64), pages.shape)
        if kind == "promote" and kernel_promoter and len(pages):
            assert not mem.node_is_fast[mem.node[pages]].any(), "promotion from a fast node"
            for d in np.unique(dsts):
                k = int((dsts == d).sum())
                # Each promoted page needed free pages above the high watermark.
                assert k <= mem.free[d] - mem.wmark_high[d], "promotion under the watermark"
        if kind == "demote" and len(pages) and cfg.kind != "oracle":
            assert mem.node_is_fast[mem.node[pages]].all()
            assert not mem.node_is_fast[dsts].any()
        move(pages, dst, kind, *args, **kwargs)
        assert (mem.free >= 0).all(), "a node above its capacity"

    mem.move = checked_move

    def after(s: Sim) -> None:
        check_conservation(s)
        events.append(s.t)

    sim.after_event = after
    if cfg.kind == "kmmscand":
        scanner = sim.policy.scanner
        adapt = scanner.adapt

        def checked_adapt(mm, y, scanned, *args):
            adapt(mm, y, scanned, *args)
            slot = sim.policy.slot(mm)
            # next_scan counts from the end of the walk, which is not before now.
            assert slot.next_scan >= sim.t + slot.scan_period * 1000
            if cfg.adapt and (cfg.version != "v3" or cfg.scan_scale == 1):
                assert cfg.scan_period_min_ms <= slot.scan_period <= cfg.scan_period_max_ms
                assert (cfg.scan_size_min_mb * MIB <= slot.scan_size
                        <= cfg.scan_size_max_mb * MIB)
            events.append(("adapt", slot.scan_period))

        scanner.adapt = checked_adapt




@parametrize_policy(argname="kind")
@settings(max_examples=25, **SETTINGS)
@given(data=st.data())
def test_invariants_hold_at_every_event(kind, data):
    cfg = random_cfg(data.draw, kind)
    sim = Sim(cfg, make_policy(cfg.policy))
    events: list = []
    instrument(sim, events)
    m = sim.run()
    check_conservation(sim)
    assert events, "the checks never ran"
    assert 0.0 <= m["hit_rate"] <= 1.0 + 1e-9
    assert 0.0 <= m["hit_rate_none"] <= 1.0 + 1e-9
    assert m["promotions"] >= m["pingpong"] >= 0


@parametrize_policy(exclude=("none",), argname="kind")
@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_reference_matches_vectorized_on_random_configs(kind, data):
    cfg = random_cfg(data.draw, kind)
    vec = simulate(cfg).metrics
    ref_sim = make_reference_sim(cfg)
    events: list = []
    instrument(ref_sim, events)
    ref = ref_sim.run()
    assert mismatches(vec, ref) == {}


@parametrize_policy(argname="kind")
@settings(max_examples=5, **SETTINGS)
@given(data=st.data())
def test_same_seed_same_metrics(kind, data):
    cfg = random_cfg(data.draw, kind)
    a, b = simulate(cfg).metrics, simulate(cfg).metrics
    assert mismatches(a, b, rel=0.0) == {}


def _zipf(seed: int):
    return from_dict(dict(
        seed=seed, duration_s=6, platform=dict(nodes=[
            dict(id=0, tier="fast", capacity_gb=gb(40)), dict(id=1, tier="slow",
                                                          capacity_gb=gb(400))]),
        workload=dict(kind="zipf", size_gb=gb(200), access_rate=3000, placement="slow",
                      vma_mb=0),
        policy=dict(kind="kmmscand", first_scan_delay_ms=200, scan_period_ms=600,
                    scan_change_scale=8)), "test")


def test_different_seeds_give_different_rate_form_results():
    a, b = simulate(_zipf(1)).metrics, simulate(_zipf(2)).metrics
    assert a["promotions"] > 0
    assert a["hit_rate"] != b["hit_rate"]
    # Same seed: the same access draws.
    assert mismatches(a, simulate(_zipf(1)).metrics, rel=0.0) == {}


def test_scan_scale_applies_after_the_clamp():
    """V3 scan_scale (documented): scan_period += scan_period * (scale - 1) / 9,
    after the clamp, so scale 10 doubles even the maximum period."""
    base = dict(kind="kmmscand", version="v3", scan_scale=10)
    cfg = from_dict(dict(duration_s=1, workload=dict(kind="counts", counts=[[1] * 8]),
                         platform=dict(nodes=[dict(id=0, tier="fast", capacity_gb=gb(8)),
                                              dict(id=1, tier="slow", capacity_gb=gb(16))]),
                         policy=base), "test")
    sim = Sim(cfg, make_policy(cfg.policy))
    sim.policy.start(sim)
    mm = sim.mms[0]
    sim.policy.on_mm_start(sim, mm)
    slot = sim.policy.slot(mm)
    slot.scan_period, slot.scan_delta = 5000, 1000  # X > 0, Y = 0: x 8, clamp to 5000
    sim.policy.scanner.adapt(mm, 0, np.zeros(sim.mem.n_nodes, dtype=np.int64))
    assert slot.scan_period == 5000 + 5000 * 9 // 9 == 10_000
    assert slot.scan_period > cfg.policy.scan_period_max_ms
