"""Benchmark figures: model throughput, memory, and speed against the reference."""

from __future__ import annotations

import math
import multiprocessing
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from harness.config import RunConfig, from_dict
from harness.model import simulate


def bench_config(size_gb: float, duration_s: float, kind: str = "zipf", *, seed: int = 1,
                 sample_ms: int = 1000, **policy) -> RunConfig:
    """The benchmark's config (model and harness benchmarks): RFC V1 default knobs;
    fast tier a quarter of the footprint, all first on slow."""
    return from_dict({
        "name": f"bench-{kind}-{size_gb:g}g",
        "seed": seed,
        "duration_s": duration_s,
        "sample_ms": sample_ms,
        "platform": {"nodes": [
            {"id": 0, "tier": "fast", "capacity_gb": size_gb / 4},
            {"id": 1, "tier": "slow", "capacity_gb": size_gb * 1.25}]},
        "workload": {"kind": kind, "size_gb": size_gb, "placement": "slow"},
        "policy": {"kind": "kmmscand", "version": "v1", **policy},
    })


def one_case(size_gb: float, duration_s: float, kind: str) -> dict:
    cfg = bench_config(size_gb, duration_s, kind)
    t0 = time.perf_counter()
    m = simulate(cfg).metrics
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(size_gb=size_gb, duration_s=duration_s, kind=kind, wall_s=wall,
                sim_s_per_wall_s=duration_s / wall, ptes_scanned=m["ptes_scanned"],
                ptes_per_s=m["ptes_scanned"] / wall, peak_mib=peak_mib,
                promotions=m["promotions"], hit_rate=m["hit_rate"])


def reference_ratio(size_gb: float = 1.0, duration_s: float = 10.0) -> dict:
    """The same small case through both implementations: equal counters, speed ratio
    (the vectorized time is the best of three warm runs)."""
    cfg = bench_config(size_gb, duration_s, "zipf")
    simulate(cfg)
    t_vec = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        vec = simulate(cfg).metrics
        t_vec = min(t_vec, time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = simulate(cfg, reference=True).metrics
    t_ref = time.perf_counter() - t0
    keys = [k for k, v in vec.items() if isinstance(v, int)]
    same = all(vec[k] == ref[k] for k in keys)
    return dict(pages=vec["pages"], duration_s=duration_s, vectorized_s=t_vec,
                reference_s=t_ref, speedup=t_ref / t_vec, counters_equal=same,
                ptes_scanned=vec["ptes_scanned"])


def one_case_alone(size_gb: float, duration_s: float, kind: str) -> dict:
    """`one_case` in a fresh process, so that peak memory is that case's alone."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(one_case, size_gb, duration_s, kind).result()


def run_all(sizes: list[float], duration_s: float, kind: str, reference: bool = True,
            echo: Callable[[str], None] = print) -> None:
    for size in sizes:
        r = one_case_alone(size, duration_s, kind)
        echo(f"{kind} {r['size_gb']:g} GiB, {r['duration_s']:g} s simulated: "
             f"{r['wall_s']:.1f} s wall, {r['sim_s_per_wall_s']:.1f} sim-s/wall-s, "
             f"{r['ptes_per_s'] / 1e6:.1f} M PTEs scanned/s, peak {r['peak_mib']:.0f} MiB")
    if reference:
        r = reference_ratio()
        echo(f"reference vs vectorized on {r['pages']} pages, {r['duration_s']:g} s: "
             f"{r['reference_s']:.2f} s vs {r['vectorized_s']:.3f} s = {r['speedup']:.0f}x, "
             f"counters equal: {r['counters_equal']}")
