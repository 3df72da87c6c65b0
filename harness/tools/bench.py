"""Benchmark figures: model throughput, memory, and speed against the reference."""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time

from harness.config import from_dict
from harness.model import simulate


def bench_config(size_gb: float, duration_s: float, kind: str = "zipf", **policy):
    """RFC V1 default knobs; fast tier a quarter of the footprint, all first on slow."""
    return from_dict({
        "name": f"bench-{kind}-{size_gb:g}g",
        "duration_s": duration_s,
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


def run_all(sizes: list[float], duration_s: float, kind: str, reference: bool = True) -> None:
    for size in sizes:
        # A fresh process per case so that peak memory is that case's alone.
        out = subprocess.run(
            [sys.executable, "-m", "harness", "bench", "--one", str(size),
             "--duration", str(duration_s), "--kind", kind],
            check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{kind} {r['size_gb']:g} GiB, {r['duration_s']:g} s simulated: "
              f"{r['wall_s']:.1f} s wall, {r['sim_s_per_wall_s']:.1f} sim-s/wall-s, "
              f"{r['ptes_per_s'] / 1e6:.1f} M PTEs scanned/s, peak {r['peak_mib']:.0f} MiB",
              flush=True)
    if reference:
        r = reference_ratio()
        print(f"reference vs vectorized on {r['pages']} pages, {r['duration_s']:g} s: "
              f"{r['reference_s']:.2f} s vs {r['vectorized_s']:.3f} s = {r['speedup']:.0f}x, "
              f"counters equal: {r['counters_equal']}", flush=True)
