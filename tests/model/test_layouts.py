"""Layout workloads: each generator's arrays get the accesses its algorithm
makes (streamed, random by degree or popularity, behind a log head), the
footprint is exact, and the rates are fixed by the seed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import GIB, WorkloadConfig
from harness.config.schema import from_dict
from harness.model.layouts import make_generator
from harness.model.layouts._sweep import _cover, lap_cover
from harness.model.layouts.analytic import FANOUT
from harness.model.layouts.graph import rmat_page_probs
from harness.model.workloads import build_layout

MIB_PAGES = 256  # 4 KiB pages in a MiB


def gen(kind: str, n: int, seed: int = 1, **kw):
    w = WorkloadConfig(kind=kind, size_gb=n / (GIB // 4096), **kw)
    return make_generator(w, n, seed, 0, 0)


# ------------------------------------------------------------------ the sweep


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.001, 0.999), min_size=1, max_size=12), st.floats(0.0, 0.999),
       st.floats(0.0, 3.5))
def test_lap_cover_sums_to_the_progress(cuts, a, length):
    bounds = np.unique(np.concatenate([[0.0], cuts, [1.0]]))
    cover = lap_cover(bounds, a, a + length)
    assert np.isclose((cover * np.diff(bounds)).sum(), length)
    assert (cover >= -1e-12).all()
    # The short-sweep path (a binary search for the pages touched) agrees with
    # the closed form over every page.
    assert np.allclose(cover, _cover(bounds, a, a + length))


def test_lap_cover_exact_on_pages():
    bounds = np.linspace(0, 1, 5)  # 4 pages of a quarter each
    assert np.allclose(lap_cover(bounds, 0.125, 0.5), [0.5, 1, 0, 0])
    assert np.allclose(lap_cover(bounds, 0.75, 1.25), [1, 0, 0, 1])  # wraps
    assert np.allclose(lap_cover(bounds, 0.0, 2.0), [2, 2, 2, 2])


# ---------------------------------------------------------------------- graph


def test_rmat_page_probs_follow_popcount():
    p = rmat_page_probs(8, row=True)
    # Source side: a + b = 0.76 for a 0 bit, c + d = 0.24 for a 1 bit.
    assert np.isclose(p[0] / p[1], 0.76 / 0.24)
    assert np.isclose(p[3], p[5]) and np.isclose(p[0], p.max())
    assert np.isclose(p.sum(), 1.0)


def test_graph_layout_streams_edges_and_reads_contrib_at_random():
    g = gen("graph", 32 * MIB_PAGES, move_every_s=0.01, access_rate=2e7)
    o, s, c, e, end = g.starts
    assert end == g.n == 32 * MIB_PAGES  # footprint exact
    assert s - o == c - s == e - c == g.vp and end - e == g.ep
    # Bytes: 8 a vertex for each vertex array, 4 an edge (d = 16): the edges
    # hold 64 / 88 of the footprint.
    assert abs(g.ep / g.n - 64 / 88) < 0.01
    assert g.iteration_s / 0.01 > 20  # a phase covers a small part of an iteration
    r = g.rates(3)
    neighbors, contrib, offsets = r[e:end], r[c:e], r[o:s]
    # Streamed: a phase touches a narrow contiguous stretch of the edges and
    # of the vertex arrays, the rest of them not at all.
    on = np.flatnonzero(neighbors > 0)
    assert 0 < len(on) < 0.1 * g.ep and on[-1] - on[0] + 1 == len(on)
    on_v = np.flatnonzero(offsets > 0)
    assert 0 < len(on_v) < 0.2 * g.vp and on_v[-1] - on_v[0] + 1 == len(on_v)
    # Random: every contrib page is read all the time, at its out-degree (RMAT
    # hubs: a skewed rate).
    assert (contrib > 0).all()
    assert contrib.max() > 10 * np.median(contrib)
    assert np.allclose(contrib, (g.out_deg + 512) / g.iteration_s)


def test_graph_rates_sum_to_access_rate_and_an_iteration_reads_every_edge_once():
    g0 = gen("graph", 8 * MIB_PAGES, access_rate=2e7)
    steps = 16
    g = gen("graph", 8 * MIB_PAGES, access_rate=2e7, move_every_s=g0.iteration_s / steps)
    accesses = np.zeros(g.n)
    for k in range(steps):  # phases, not pages
        r = g.rates(k)
        assert np.isclose(r.sum(), 2e7, rtol=0.01)  # exact over the iteration, below
        accesses += r * g.step_s
    e = g.starts[3]
    assert np.allclose(accesses[e:], 1024)  # each edge's neighbor read
    assert np.allclose(accesses[:g.vp], 512)  # each vertex's offset read


def test_graph_is_fixed_by_the_seed():
    a, b, c = (gen("graph", 4 * MIB_PAGES, seed=s).rates(2) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# -------------------------------------------------------------------- kvcache


def test_kvcache_layout_hash_table_and_a_moving_hot_log_head():
    n = 16 * MIB_PAGES
    kv = gen("kvcache", n, zipf_s=0.99, value_bytes=1024, set_fraction=0.1, move_every_s=0.5,
             access_rate=2e6)
    assert kv.ht + kv.slab == n  # footprint exact
    assert kv.ipp == 4 and abs(kv.ht * 4096 - 8 * kv.items) <= 4096  # 8 B a slot
    r0, r1 = kv.rates(0), kv.rates(1)
    # The hash table: every page read, near-uniform but for the hottest keys' buckets.
    assert (r0[:kv.ht] > 0).all()
    # The slab log: the hottest page sits just behind the head, and it moves
    # with the head, sets x step / items a page pages a phase.
    hot0, hot1 = (int(np.argmax(r[kv.ht:])) for r in (r0, r1))
    shift = kv.sets * kv.step_s / kv.ipp
    assert abs((hot1 - hot0) % kv.slab - shift % kv.slab) <= 2
    head = int(kv.head(0.5 * kv.step_s)) % kv.slab
    assert (head - hot0) % kv.slab <= 2
    # Far behind the head (a whole lap) the items are mostly dead: cold.
    slab = r0[kv.ht:]
    assert slab[(head + kv.slab // 2) % kv.slab] < 0.05 * slab.max()
    # Totals: buckets for every request, items for hits and sets.
    expect = kv.requests + kv.gets * kv.hit_ratio + kv.sets
    assert np.isclose(r0.sum(), expect, rtol=1e-3) and r0.sum() <= 2e6 * (1 + 1e-9)
    assert 0 < kv.hit_ratio < 1


def test_kvcache_is_fixed_by_the_seed():
    a, b, c = (gen("kvcache", 2 * MIB_PAGES, seed=s).rates(1) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# ------------------------------------------------------------------- analytic


def test_analytic_layout_btree_levels_and_column_scans():
    n = 32 * MIB_PAGES
    db = gen("analytic", n, columns=8, index_share=0.1, scan_share=0.5, move_every_s=0.05,
             access_rate=2e6)
    assert db.index_pages + db.cols * db.cp == n and sum(db.levels) == db.index_pages
    # Root first; every inner level holds the pointers to the level below (the
    # leaves padded to fill the index share may outnumber their parents' slots).
    inner = db.levels[:-1]
    assert db.levels[0] == 1
    assert all(a * FANOUT >= b for a, b in zip(inner[:-1], inner[1:], strict=True))
    r = db.rates(0)
    # Each B-tree level carries every lookup once: the root is read by all of them.
    lo = 0
    for m in db.levels:
        assert np.isclose(r[lo:lo + m].sum(), db.lookups)
        lo += m
    assert np.isclose(r[0], db.lookups)
    # A scan: one contiguous stretch of one column, 64 accesses a page.
    scan = r.copy()
    scan[:db.index_pages] = 0
    for c in db.lookup_columns:
        lo = db.col_start[c]
        scan[lo:lo + db.cp] -= db.row_pop * db.lookups
    on = np.flatnonzero(scan > 1e-9)
    assert len(on) and on[-1] - on[0] + 1 == len(on)
    col = db.query_column(0)
    assert db.col_start[col] <= on[0] and on[-1] < db.col_start[col + 1]
    assert np.isclose(scan.sum(), 1e6)
    assert np.isclose(r.sum(), 2e6)


def test_analytic_queries_follow_the_seed():
    a = gen("analytic", 8 * MIB_PAGES, seed=1)
    b = gen("analytic", 8 * MIB_PAGES, seed=1)
    c = gen("analytic", 8 * MIB_PAGES, seed=3)
    qa = [a.query_column(q) for q in range(40)]
    assert qa == [b.query_column(q) for q in range(40)]
    assert qa != [c.query_column(q) for q in range(40)]
    assert np.array_equal(a.rates(4), b.rates(4)) and not np.array_equal(a.rates(4), c.rates(4))


# --------------------------------------------------------------- in the model


@pytest.mark.parametrize("kind", ["graph", "kvcache", "analytic"])
def test_layout_footprint_is_exact_in_the_model(kind):
    cfg = from_dict({"workload": {"kind": kind, "size_gb": 0.0625, "processes": 2,
                                  "move_every_s": 1}, "duration_s": 5})
    lay = build_layout(cfg)
    assert lay.n_pages == int(0.0625 * GIB) // 4096
    seg = lay.segments[0]
    assert seg.phase_times == [k * 1_000_000 for k in range(5)]
    rates = seg.enter_phase(0, 0)
    half = seg.n // 2
    # Two processes: each its own layout, the rates of each summing to access_rate or less.
    for part in (rates[:half], rates[half:]):
        assert 0 < part.sum() <= 2e7 * (1 + 1e-9)


def test_kvcache_rotation_matches_the_age_rule():
    kv = gen("kvcache", 2 * MIB_PAGES, move_every_s=0.7, access_rate=2e6, set_fraction=0.3)
    for k in (0, 3, 11):
        mid = kv.head((k + 0.5) * kv.step_s) % kv.slab
        age = np.floor(mid - np.arange(kv.slab)).astype(np.int64) % kv.slab
        a, b = kv.head(k * kv.step_s) / kv.slab, kv.head((k + 1) * kv.step_s) / kv.slab
        want = kv.by_age[age] + lap_cover(kv.bounds, a, b) * kv.ipp / kv.step_s
        assert np.allclose(kv.rates(k)[kv.ht:], want)


@pytest.mark.parametrize("workload", [
    {"kind": "graph", "move_every_s": 0.5, "access_rate": 2e4},
    {"kind": "kvcache", "move_every_s": 0.5, "access_rate": 2e4, "set_fraction": 0.2},
    {"kind": "analytic", "move_every_s": 0.5, "access_rate": 2e4, "columns": 4},
], ids=lambda w: w["kind"])
def test_layouts_agree_with_the_per_page_reference(workload):
    """The layout kinds' phases drive the vectorized model and the per-page
    reference the same way (both read the generator's rates)."""
    from harness.model import simulate
    from tests.helpers.simcfg import gb, mismatches, small_cfg

    w = dict(workload, size_gb=gb(240), placement="first_touch", vma_mb=0)
    cfg = small_cfg({"kind": "kmmscand"}, workload=None, workloads=[w])
    vec, ref = simulate(cfg), simulate(cfg, reference=True)
    assert vec.metrics["promotions"] > 0
    assert mismatches(vec.metrics, ref.metrics) == {}


def test_layouts_count_the_platforms_page_size():
    w = WorkloadConfig(kind="graph", size_gb=0.0625, access_rate=2e7)
    small, big = make_generator(w, 4096, 1, 0, 0, 4096), make_generator(w, 1024, 1, 0, 0, 16384)
    assert big.vertices == small.vertices and big.edges == small.edges  # same bytes
    kv = make_generator(WorkloadConfig(kind="kvcache", value_bytes=1024), 1024, 1, 0, 0, 16384)
    assert kv.ipp == 16
    db = make_generator(WorkloadConfig(kind="analytic"), 1024, 1, 0, 0, 16384)
    assert db.lines == 256
