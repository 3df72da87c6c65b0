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
import math
from dataclasses import dataclass

import numpy as np

from harness.config import GIB, RunConfig
from harness.model.workloads import US


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


# ------------------------------------------------------------ the closed loop


@dataclass(slots=True)
class RuntimeState:
    """Accumulated split of the elapsed time and the current step's factors."""

    stall_us: float = 0.0    # time lost to stalls (1 - b)
    penalty_us: float = 0.0  # time lost to slower accesses (b (1 - a))
    debt_us: float = 0.0     # stall time charged but not yet served
    a: float = 1.0           # P_fast / P_mix of the current step
    b: float = 1.0           # 1 - stall share of the current step
    app_ns: float = 0.0      # application-charged CPU seen so far
    shootdowns: int = 0      # shootdowns seen so far


class ClosedLoop:
    """Maps real time t to nominal work time tau at a speed recomputed every
    runtime step; detects completion (tau reaches the total work)."""

    def __init__(self, cfg: RunConfig, tau_total: float):
        self.cfg = cfg
        self.tau_total = tau_total
        self.speed = 1.0
        self.tau0 = 0.0
        self.tau_t0 = 0
        self.completion_us = float("nan")
        self.state = RuntimeState()
        nodes = sorted(cfg.platform.nodes, key=lambda n: n.id)
        self.node_cost_ns = node_costs_ns(cfg)
        self.node_bw = np.array([n.bandwidth_gbps for n in nodes]) * 1e9  # bytes/s
        self.p_fast_us = fast_period_us(cfg)

    def work_at(self, t: int) -> float:
        """Nominal work time at real time t (t at or after the last step)."""
        return self.tau0 + self.speed * (t - self.tau_t0)

    def real_at(self, tau: np.ndarray) -> np.ndarray:
        """Real times of nominal times tau at the current speed (inf if never)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.tau_t0 + (tau - self.tau0) / self.speed
        out[np.isnan(out)] = np.inf
        return out

    @property
    def done(self) -> bool:
        return self.completion_us == self.completion_us  # not NaN

    def step(self, t: int, node_rate: np.ndarray, total_rate: float, app_ns: float,
             shootdowns: int, tlb_shootdown_us: float) -> int | None:
        """Account the elapsed step, then set the next speed from where accesses
        go now (access rates per node, their total) and the stalls charged so far
        (application CPU in ns, TLB shootdowns). Returns the time of the next
        step, or None when the work completed inside this one."""
        rt = self.state
        tau_now = self.work_at(t)
        dt = t - self.tau_t0
        if tau_now >= self.tau_total and self.speed > 0:
            # Finished inside this step: account only the part before completion.
            frac = (self.tau_total - self.tau0) / (tau_now - self.tau0) if tau_now > self.tau0 else 0
            dt *= frac
            self.completion_us = self.tau_t0 + dt
        rt.stall_us += dt * (1 - rt.b)
        rt.penalty_us += dt * rt.b * (1 - rt.a)
        if self.done:
            return None
        cfg_rt = self.cfg.runtime
        step_us = cfg_rt.step_ms * 1000
        if total_rate > 0:
            rt.a = self.p_fast_us / mixed_period_us(
                cfg_rt, node_rate / total_rate, self.node_cost_ns, self.node_bw)
        sd = shootdowns
        rt.debt_us += ((app_ns - rt.app_ns) * cfg_rt.stall_share / cfg_rt.threads
                       + (sd - rt.shootdowns) * tlb_shootdown_us * 1000) / 1000
        rt.app_ns, rt.shootdowns = app_ns, sd
        used = min(rt.debt_us, step_us)
        rt.debt_us -= used
        rt.b = 1 - used / step_us
        self.tau0, self.tau_t0 = tau_now, t
        self.speed = rt.a * rt.b
        return t + step_us

    def end_us(self) -> int:
        """The run's end once the work completed."""
        return int(math.ceil(self.completion_us))

    def metrics(self) -> dict:
        """Completion time and its split: all-fast time + slow-access penalty + stalls."""
        done = self.done
        fast_s = self.tau_total / US
        comp = self.completion_us / US if done else float("nan")
        return dict(completion_s=comp, all_fast_s=fast_s,
                    slowdown=comp / fast_s if done else float("nan"),
                    runtime_penalty_s=self.state.penalty_us / US,
                    runtime_stall_s=self.state.stall_us / US, completed=int(done))
