"""`damon_tier`: upstream DAMON-based memory tiering (samples/damon/mtier.c).

Two kdamond contexts on physical addresses (DAMON_OPS_PADDR), as mtier.c
builds them (damon_sample_mtier_build_ctx): one over each slow node's frames
with a migrate_hot scheme to the fast node (its quota goal
DAMOS_QUOTA_NODE_MEM_USED_BP 9970 of node 0, an allow-young filter), one over
each fast node's frames with migrate_cold to the slow node (goal
DAMOS_QUOTA_NODE_MEM_FREE_BP 50 of node 0, a reject-young filter). Each
context runs kdamond_fn's loop (``_kdamond``), one event per sampling
interval on its own clock; see monitor.py and schemes.py for the rules.

Costs: each sampled folio's two rmap walks (mkold at prepare, young at
check) and each page the young filter tests cost ``damon_rmap_ns``, the
region bookkeeping ``damon_region_ns`` per region per aggregation; this is
kdamond's monitoring, charged as the scanner's CPU. The migrations cost as
kmmscand's migrator's entries do (``page_move_ns`` a page moved,
``migrate_fail_ns`` one that fails), charged as the migrator's CPU; they go
through Memory.move (TLB shootdowns) and wake kswapd on a full destination.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.model.core import PRIO_POLICY
from harness.model.policies._base import Policy
from harness.model.policies._damon.frames import FrameMap
from harness.model.policies._damon.monitor import Monitor
from harness.model.policies._damon.schemes import Scheme

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim

DAMON_STREAM = 0xDA30  # seed tag of kdamond's damon_rand streams


class Context:
    """One kdamond: its monitor and its one scheme."""

    def __init__(self, mon: Monitor, scheme: Scheme):
        self.mon, self.scheme = mon, scheme


class DamonTierPolicy(Policy):
    name = "damon_tier"
    monitor_cls: type[Monitor] = Monitor
    scheme_cls: type[Scheme] = Scheme

    def start(self, sim: Sim) -> None:
        c, mem = self.cfg, sim.mem
        self.sim = sim
        self.frames = FrameMap(sim)
        goal = mem.node_ids.index(c.target_node) if c.target_node in mem.node_ids else 0
        fast0, slow0 = int(mem.fast_nodes[0]), int(mem.slow_nodes[0])
        plan = [(int(d), True, fast0) for d in mem.slow_nodes]
        plan += [(int(d), False, slow0) for d in mem.fast_nodes]
        self.contexts: list[Context] = []
        for k, (node, hot, dest) in enumerate(plan):
            rng = np.random.default_rng([sim.cfg.seed, DAMON_STREAM, k])
            mon = self.monitor_cls(c, node, int(mem.capacity[node]), self.frames, rng)
            sch = self.scheme_cls(c, hot, node, dest, goal, self.frames, sim.page_bytes,
                                  mon.max_nr_accesses)
            # kdamond_init_intervals_sis: the first apply after one apply interval.
            sch.next_apply = c.damon_apply_interval_ms * 1000 // mon.sample_us
            ctx = Context(mon, sch)
            self.contexts.append(ctx)
            sim.schedule(0, PRIO_POLICY, lambda x=ctx: self._kdamond(x))

    def on_mm_start(self, sim: Sim, mm: MMState) -> None:
        self.frames.dirty = True

    def on_mm_exit(self, sim: Sim, mm: MMState) -> None:
        self.frames.dirty = True

    def _kdamond(self, ctx: Context) -> None:
        """One iteration of kdamond_fn, at the end of a sampling interval."""
        sim, c = self.sim, self.cfg
        mon, sch = ctx.mon, ctx.scheme
        self.frames.sync()
        costs = sim.costs
        mon.checks = 0
        mon.check()
        if mon.sampled[0] >= 0:
            mon.passed += 1
        boundary = mon.passed >= mon.next_aggr
        work = 0
        if boundary:
            mon.merge()
        if mon.passed >= sch.next_apply and mon.passed > 0:
            sch.adjust_quota(sim.t, mon)
            tested, mig_ns = sch.apply(mon)
            mon.checks += tested
            sim.cpu_ns.migrator += mig_ns
            sch.next_apply = mon.passed + c.damon_apply_interval_ms * 1000 // mon.sample_us
            self.frames.sync()
        if boundary:
            work = mon.n
            if c.damon_intervals_goal_bp and mon.passed >= mon.next_tune:
                mon.next_tune += mon.aggr_samples * c.damon_intervals_goal_aggrs
                mon.tune_intervals()
            mon.next_aggr += mon.aggr_samples
            mon.reset()
            mon.split()
        mon.prepare()
        sim.cpu_ns.scanner += mon.checks * costs.damon_rmap_ns + work * costs.damon_region_ns
        sim.counters.ptes_scanned += mon.checks
        if boundary:
            sim.counters.mm_scans += 1  # one aggregation: the policy's "scan"
        sim.schedule(sim.t + mon.sample_us, PRIO_POLICY, lambda: self._kdamond(ctx))


__all__ = ["DamonTierPolicy", "FrameMap", "Monitor", "Scheme"]
