"""Small model configurations for the model tests (a few hundred pages)."""

from __future__ import annotations

import math

import numpy as np

from harness.config import RunConfig, from_dict


def gb(pages: int, page_kb: int = 4) -> float:
    """Capacity in GB of exactly `pages` pages (exact in binary for small counts)."""
    return pages * page_kb * 1024 / 2**30


def counts_matrix(seed: int, n: int, windows: int, peak: float = 60.0) -> np.ndarray:
    """Skewed per-page access counts (the hottest page about `peak` a window)
    whose hot set moves halfway; many zeros, so accesses also have to be found
    in later windows."""
    rng = np.random.default_rng([seed, 0xC0])
    lam = peak * np.arange(1, n + 1, dtype=np.float64) ** -0.8
    lam = lam[rng.permutation(n)]
    out = np.empty((windows, n), dtype=np.int64)
    for k in range(windows):
        shifted = lam if k < windows // 2 else np.roll(lam, n // 3)
        out[k] = rng.poisson(shifted) * (rng.random(n) < 0.8)
    return out


def small_cfg(policy: dict, *, n: int = 240, windows: int = 6, fast: int = 40,
              slow: int | None = None, fast_nodes: int = 1, seed: int = 1,
              workload: dict | None = None, workloads: list | None = None,
              platform: dict | None = None, **top) -> RunConfig:
    """A counts workload of n pages (window_ms 1000) on `fast_nodes` fast nodes of
    `fast` pages each and one slow node; knobs tuned so that the first scans
    come early and the per-mm adaptation sees non-zero deltas."""
    nodes = [dict(id=i, tier="fast", capacity_gb=gb(fast)) for i in range(fast_nodes)]
    nodes.append(dict(id=fast_nodes, tier="slow", capacity_gb=gb(slow if slow else 2 * n)))
    plat = dict(nodes=nodes, wmark_high_pct=5.0, wmark_promo_pct=10.0)
    plat.update(platform or {})
    if workloads is None:
        w = dict(kind="counts", counts=counts_matrix(seed, n, windows).tolist(),
                 placement="first_touch", vma_mb=0)
        w.update(workload or {})
        workloads = [w]
    pol = dict(first_scan_delay_ms=200, scan_period_ms=600, scan_change_scale=8,
               numab_scan_period_ms=400)
    pol.update(policy)
    raw = dict(seed=seed, duration_s=float(windows), sample_ms=500, platform=plat,
               workloads=workloads, policy=pol)
    raw.update(top)
    return from_dict(raw, "test")


def mismatches(a: dict, b: dict, rel: float = 1e-9) -> dict:
    """Metrics that differ: ints and strings exactly, floats within rel (NaN == NaN)."""
    out = {}
    for k in a.keys() | b.keys():
        if k == "wall_s":
            continue
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) or isinstance(y, float):
            if x is None or y is None:
                out[k] = (x, y)
            elif math.isnan(x) and math.isnan(y):
                continue
            elif not math.isclose(x, y, rel_tol=rel, abs_tol=1e-12):
                out[k] = (x, y)
        elif x != y or type(x) is not type(y):
            out[k] = (x, y)
    return out


# ------------------------------------------------------------ random configs


def random_cfg(draw, kind: str, *, allow_scan_scale: bool = False) -> RunConfig:
    """A random small config for policy `kind` from a hypothesis `draw` (from
    st.data()): sizes, capacities, watermarks, placement, processes, counts or
    rate form, and the policy's knobs. The first choice of each list is the
    busier one (hypothesis starts from it)."""
    from hypothesis import strategies as st

    page_kb = draw(st.sampled_from([4, 64]))
    n = draw(st.integers(8, 150))
    windows = draw(st.integers(2, 6))
    form = draw(st.sampled_from(["counts", "counts", "zipf", "hotset", "uniform", "sequential"]))
    placement = draw(st.sampled_from(["slow", "first_touch", "fast", "split"]))
    processes = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 10_000))
    vma_mb = draw(st.sampled_from([0, 1]))
    if form == "counts":
        w = dict(kind="counts", counts=counts_matrix(seed, n, windows,
                                                     peak=draw(st.sampled_from([60.0, 3.0])))
                 .tolist())
    else:
        w = dict(kind=form, size_gb=gb(n, page_kb), access_rate=draw(st.sampled_from([5000, 200])),
                 move_every_s=draw(st.sampled_from([1.0, 2.5])))
    w.update(placement=placement, processes=processes, vma_mb=vma_mb,
             split_fast_share=draw(st.sampled_from([0.0, 0.3, 1.0])))
    workloads = [w]
    if draw(st.booleans()):
        # A second, late and short-lived process.
        m = draw(st.integers(4, 40))
        start = draw(st.sampled_from([0.0, 0.5, 1.5]))
        workloads.append(dict(kind="counts", counts=counts_matrix(seed + 1, m, windows).tolist(),
                              start_s=start, exit_s=start + draw(st.sampled_from([1.0, 2.0])),
                              placement=draw(st.sampled_from(["first_touch", "slow"])),
                              vma_mb=vma_mb))
        n += m
    fast_nodes = draw(st.integers(1, 2))
    fast = draw(st.integers(1, n))
    high = draw(st.floats(0, 20))
    nodes = [dict(id=i, tier="fast", capacity_gb=gb(fast, page_kb)) for i in range(fast_nodes)]
    nodes.append(dict(id=fast_nodes, tier="slow", capacity_gb=gb(n + draw(st.integers(0, n)),
                                                                 page_kb)))
    platform = dict(page_size_kb=page_kb, nodes=nodes, wmark_high_pct=high,
                    wmark_promo_pct=draw(st.floats(high, 45)),
                    wmark_min_pct=draw(st.sampled_from([0.024, 5.0, 20.0])),  # capped at high
                    kswapd=draw(st.sampled_from([True, True, False])))
    version = draw(st.sampled_from(["v1", "v3", "v0", "v2"]))
    pol = dict(
        kind=kind, version=version,
        first_scan_delay_ms=draw(st.sampled_from([200, 0, 1000])),
        scan_sleep_ms=draw(st.sampled_from([16, 50])),
        scan_period_ms=draw(st.sampled_from([600, 100, 2000, 9000])),
        scan_size_min_mb=1, scan_size_mb=draw(st.sampled_from([1, 2, 64])), scan_size_max_mb=8,
        scan_change_scale=draw(st.sampled_from([4, 0, 256])),
        adapt=draw(st.sampled_from([True, False])),
        dedup=draw(st.booleans()),
        migrate_batch=draw(st.sampled_from([0, 0, 1, 5])),
        migrate_rate_limit_mbps=draw(st.sampled_from([0.0, 0.0, 0.1, 2.0])),
        single_thread=draw(st.sampled_from([None, True, False])),
        a_bit_miss=draw(st.sampled_from([0.0, 0.0, 0.3])),
        mms_to_scan=draw(st.sampled_from([4096, 4096, 1, 2])),
        scan_scale=draw(st.sampled_from([1, 1, 0, 3, 10] if allow_scan_scale else [1, 1, 0])),
        numab_scan_size_mb=draw(st.sampled_from([1, 256])),
        numab_scan_period_ms=draw(st.sampled_from([200, 1000, None, None])),
        numab_scan_period_min_ms=draw(st.sampled_from([1000, 50])),
        numab_scan_period_max_ms=draw(st.sampled_from([60000, 1000])),
        hot_threshold_ms=draw(st.sampled_from([1000, 100])),
        promote_rate_limit_mbps=draw(st.sampled_from([65536.0, 0.05])),
    )
    raw = dict(seed=seed, duration_s=float(windows), sample_ms=500, platform=platform,
               workloads=workloads, policy=pol)
    return from_dict(raw, "random")
