"""Closed-loop runtime: a fixed amount of work that runs faster from fast memory.

Work is counted in *nominal time* tau: the time the work would take with every
access served at the cheapest fast-tier cost and no stalls. The engine maps
real time to tau with a speed in (0, 1] recomputed every runtime step:

    speed = a * b,  a = P_fast / P_mix,  b = 1 - stall share of the step

P = think time + per-access cost, P_mix weighted by where accesses go now and
stretched on a node whose bandwidth is saturated.
Stalls: application-charged CPU (hint faults, synchronous migration, PTE
marking) x stall_share / threads, plus one TLB shootdown per migrated page
(every thread of the mm takes the IPI). Access models run in tau,
so a uniform slow-down needs no redraws.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.config import GIB, RunConfig


def node_costs_ns(cfg: RunConfig) -> np.ndarray:
    """Per-access cost of each node (sorted by node id), in ns."""
    rt = cfg.runtime
    out = []
    for n in sorted(cfg.platform.nodes, key=lambda n: n.id):
        fixed = rt.fast_access_ns if n.tier == "fast" else rt.slow_access_ns
        out.append(fixed if fixed is not None else n.latency_ns * rt.access_cost_factor)
    return np.array(out, dtype=np.float64)


def fast_period_us(cfg: RunConfig) -> float:
    """Per-thread access period with every access on the best fast node."""
    nodes = sorted(cfg.platform.nodes, key=lambda n: n.id)
    costs = node_costs_ns(cfg)
    bw = np.array([n.bandwidth_gbps for n in nodes]) * 1e9
    best = None
    for i, n in enumerate(nodes):
        if n.tier != "fast":
            continue
        shares = np.zeros(len(nodes))
        shares[i] = 1.0
        p = mixed_period_us(cfg.runtime, shares, costs, bw)
        best = p if best is None else min(best, p)
    return best


def accesses_per_thread(cfg: RunConfig) -> float:
    rt = cfg.runtime
    if rt.accesses_per_thread > 0:
        return rt.accesses_per_thread
    pages = int(cfg.workloads[0].size_gb * GIB // cfg.platform.page_bytes)
    return rt.iterations * pages / rt.threads


def mixed_period_us(rt, shares: np.ndarray, costs_ns: np.ndarray,
                    bandwidth_bps: np.ndarray) -> float:
    """Per-thread access period with accesses split over nodes by `shares`.

    Latency-bound: think time + the share-weighted access cost. Bandwidth-bound:
    the threads' traffic to a node cannot exceed its bandwidth, i.e.
    threads x share x bytes / period <= bandwidth. The period is the larger.
    """
    latency_bound = rt.think_us + float(shares @ costs_ns) / 1000.0
    bw_bound = float(np.max(rt.threads * shares * rt.bytes_per_access / bandwidth_bps)) * 1e6
    return max(latency_bound, bw_bound)


def resolve(cfg: RunConfig) -> tuple[RunConfig, float]:
    """The config with the workload's nominal access rate set; total nominal work (us)."""
    rt = cfg.runtime
    p_fast = fast_period_us(cfg)
    w = dataclasses.replace(cfg.workloads[0], access_rate=rt.threads * 1e6 / p_fast)
    return dataclasses.replace(cfg, workloads=(w,)), accesses_per_thread(cfg) * p_fast
