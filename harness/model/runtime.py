"""Closed-loop runtime: a fixed amount of work that runs faster from fast memory.

Work is counted in *nominal time* tau: the time the work would take with every
access served from the best fast-tier node and no stalls. The engine maps real
time to tau with a speed in (0, 1] recomputed every runtime step:

    speed = a * b,  a = P_fast / P_mix,  b = 1 - stall share of the step

P is one thread's access period: think time + the per-access cost, weighted by
where accesses go now, or the node's bandwidth limit if that is longer.

Per-access cost on node d (ns), each term a mechanism (constants: RuntimeConfig):

* page walk: P(dTLB miss) x walk, P(miss) = 1 - TLB reach / footprint (random
  pages; reach = tlb_entries x page size), walk = walk_hit_ns when the
  page-table entries (8 bytes per page) fit in pte_cache_mib, else the PTE
  line is read from the node holding the page-table page (page_tables
  "placement": where the data was first placed, the CXL node for Abench;
  promotion never moves page tables), mixed by the share that fits. The
  share that misses grows with the footprint, and promotion cannot remove
  it, so the walk is a footprint-growing share of a promoted run's time;
* data: lines moved x latency / lines in flight (Little's law: a thread with
  L lines in flight streams L lines per latency). The latency is the mean over
  the sockets the threads run on (spread evenly): a top-tier node's own
  latency from its socket, x remote_factor from the other; a CXL node's from
  its host socket, + the inter-socket hop ((remote_factor - 1) x top-tier
  local latency) from the other;
* bandwidth: threads x share x bytes_per_access / period <= node bandwidth.

Stalls (application time lost), from mechanisms, no fitted share:

* in-task CPU: hint faults, synchronous migration (NUMAB2 promotes in the
  faulting task) and PTE marking (task_numa_work -> change_prot_numa) run on
  one application thread: its own time, 1/threads of the application's;
* TLB shootdowns: every successful migration of a mapped page (kmmscand)
  unmaps it and flushes the TLBs of every CPU running the mm, and so does each
  change_prot_numa range of NUMA balancing's marking (its promotions of
  PROT_NONE pages need none); each thread loses ipi_handler_us per shootdown.

Access models run in tau, so a uniform slow-down needs no redraws.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from harness.config import GIB, RunConfig
from harness.model.workloads import US

LINE_BYTES = 64     # a cache line
PTE_BYTES = 8       # one page-table entry per 4 KiB page (x86-64)
MIB = 1 << 20


def _nodes(cfg: RunConfig):
    return sorted(cfg.platform.nodes, key=lambda n: n.id)


def footprint_bytes(cfg: RunConfig) -> float:
    return cfg.workloads[0].size_gb * GIB


def thread_sockets(cfg: RunConfig) -> list[int]:
    """Sockets the application's threads run on (spread evenly): those of the
    top-tier nodes (CXL nodes have no CPUs)."""
    return sorted({n.socket for n in cfg.platform.nodes if n.tier == "fast"})


def node_latency_ns(cfg: RunConfig) -> np.ndarray:
    """Mean load latency of one line from each node, over the threads' sockets."""
    rt = cfg.runtime
    nodes = _nodes(cfg)
    sockets = thread_sockets(cfg)
    local_top = float(np.mean([n.latency_ns for n in nodes if n.tier == "fast"]))
    hop = (rt.remote_factor - 1.0) * local_top   # one inter-socket hop
    out = []
    for n in nodes:
        lat = []
        for s in sockets:
            if s == n.socket:
                lat.append(n.latency_ns)
            elif n.tier == "fast":
                lat.append(n.latency_ns * rt.remote_factor)
            else:
                lat.append(n.latency_ns + hop)
        out.append(float(np.mean(lat)))
    return np.array(out, dtype=np.float64)


def tlb_miss_probability(cfg: RunConfig) -> float:
    """P(an access to a random page misses the L2 dTLB): 1 - reach / footprint."""
    reach = cfg.runtime.tlb_entries * cfg.platform.page_bytes
    fp = footprint_bytes(cfg)
    return max(0.0, 1.0 - reach / fp) if fp > 0 else 0.0


def pte_cached_share(cfg: RunConfig) -> float:
    """Share of the footprint's page-table entries that fit in the cache."""
    pte = footprint_bytes(cfg) / cfg.platform.page_bytes * PTE_BYTES
    return min(1.0, cfg.runtime.pte_cache_mib * MIB / pte) if pte > 0 else 1.0


def page_table_slow_share(cfg: RunConfig) -> float:
    """Share of the footprint's page-table pages on the slow tier: they are
    allocated where the data is first placed (pagetable_alloc under the task's
    mempolicy at the first fault of each 2 MiB range) and never migrated, so
    promotion moves the data but not its PTEs."""
    w = cfg.workloads[0]
    if w.placement == "slow":
        return 1.0
    if w.placement == "split":
        return 1.0 - w.split_fast_share
    if w.placement == "first_touch":
        fast = sum(n.capacity_gb for n in cfg.platform.nodes if n.tier == "fast")
        return max(0.0, 1.0 - fast / w.size_gb) if w.size_gb > 0 else 0.0
    return 0.0


def pte_miss_ns(cfg: RunConfig) -> float:
    """A walk's PTE read that misses the cache: the latency of the node holding
    the page-table page (mean over the threads' sockets, split by where the
    page tables are), or walk_miss_ns with page_tables "dram"."""
    rt = cfg.runtime
    if rt.page_tables == "dram":
        return rt.walk_miss_ns
    nodes = _nodes(cfg)
    lat = node_latency_ns(cfg)
    fast = float(np.mean([lat[i] for i, n in enumerate(nodes) if n.tier == "fast"]))
    slow = float(next(lat[i] for i, n in enumerate(nodes) if n.tier == "slow"))
    s = page_table_slow_share(cfg)
    return s * slow + (1.0 - s) * fast


def walk_ns(cfg: RunConfig) -> float:
    """Mean page-walk time per access: P(TLB miss) x (PTE in cache, or read
    from the node holding the page tables)."""
    rt = cfg.runtime
    share = pte_cached_share(cfg)
    return tlb_miss_probability(cfg) * (share * rt.walk_hit_ns + (1 - share) * pte_miss_ns(cfg))


def lines_per_access(rt) -> float:
    return max(1.0, rt.bytes_per_access / LINE_BYTES)


def data_ns(cfg: RunConfig) -> np.ndarray:
    """Per node: lines moved x latency / lines in flight (at most the lines)."""
    rt = cfg.runtime
    lines = lines_per_access(rt)
    return lines * node_latency_ns(cfg) / min(rt.lines_in_flight, lines)


def node_costs_ns(cfg: RunConfig) -> np.ndarray:
    """Per-access cost of each node (sorted by node id), in ns: page walk + data."""
    return np.asarray(walk_ns(cfg) + data_ns(cfg), dtype=np.float64)


def access_cost_terms(cfg: RunConfig) -> dict:
    """The per-access cost's terms by node (for reports and tests)."""
    return dict(tlb_miss_p=tlb_miss_probability(cfg), pte_cached=pte_cached_share(cfg),
                pte_miss_ns=pte_miss_ns(cfg), walk_ns=walk_ns(cfg), latency_ns=node_latency_ns(cfg).tolist(),
                data_ns=data_ns(cfg).tolist(), cost_ns=node_costs_ns(cfg).tolist(),
                lines=lines_per_access(cfg.runtime))


def fast_period_us(cfg: RunConfig) -> float:
    """Per-thread access period with every access on the best fast node."""
    nodes = _nodes(cfg)
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
    task_charged_us: float = 0.0  # stall charged by in-task CPU (faults, sync migration, marking)
    ipi_charged_us: float = 0.0   # stall charged by shootdown IPIs


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
             shootdowns: int) -> int | None:
        """Account the elapsed step, then set the next speed from where accesses
        go now (access rates per node, their total) and the stalls charged so far
        (application-charged CPU in ns, TLB shootdowns). Returns the time of the
        next step, or None when the work completed inside this one. (The
        initiator's wait for a shootdown, tlb_shootdown_us, is the migrating
        thread's cost, not the application's: each shootdown stalls every
        thread by ipi_handler_us.)"""
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
        # In-task CPU runs on one of the threads: 1/threads of the application.
        task = (app_ns - rt.app_ns) / cfg_rt.threads / 1000
        # Every CPU running the mm takes the IPI of each shootdown.
        ipi = (shootdowns - rt.shootdowns) * cfg_rt.ipi_handler_us
        rt.task_charged_us += task
        rt.ipi_charged_us += ipi
        rt.debt_us += task + ipi
        rt.app_ns, rt.shootdowns = app_ns, shootdowns
        used = min(rt.debt_us, step_us)
        rt.debt_us -= used
        rt.b = 1 - used / step_us
        self.tau0, self.tau_t0 = tau_now, t
        self.speed = rt.a * rt.b
        return t + step_us

    def stall_split_s(self) -> dict[str, float]:
        """The stall time by mechanism (s): in-task CPU and shootdown IPIs, the
        stall served split in proportion to what each charged (the debt is
        served first in, first out; the two charges interleave step by step)."""
        rt = self.state
        charged = rt.task_charged_us + rt.ipi_charged_us
        if charged <= 0:
            return {"stall_task_s": 0.0, "stall_ipi_s": 0.0}
        return {"stall_task_s": rt.stall_us * rt.task_charged_us / charged / US,
                "stall_ipi_s": rt.stall_us * rt.ipi_charged_us / charged / US}

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
