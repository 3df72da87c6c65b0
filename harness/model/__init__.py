"""The tiered-memory model: pure numpy, no Ray, Optuna, pandas or matplotlib.

``simulate(cfg)`` runs one configuration and returns a ``RunResult`` with
flat scalar ``metrics`` and a ``timeseries`` of samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import RunConfig
from harness.model.engine import Sim, objective
from harness.model.policies import POLICIES, Policy, make_policy
from harness.model.workloads import Layout, build_layout, fast_pages, footprint_pages


@dataclass
class RunResult:
    metrics: dict
    timeseries: dict
    # The objective so far at each sample (t_s, objective; the last is the
    # run's): the intermediate values a pruner judges a trial on.
    progress: dict | None = None


def simulate(cfg: RunConfig, reference: bool = False) -> RunResult:
    """Run one configuration. ``reference=True`` uses the per-page reference rules."""
    if reference:
        from harness.model.reference import make_reference_sim

        sim = make_reference_sim(cfg)
    else:
        sim = Sim(cfg, make_policy(cfg.policy))
    metrics = sim.run()
    return RunResult(metrics=metrics, timeseries=sim.series,
                     progress=getattr(sim.metrics, "progress", None))


__all__ = ["POLICIES", "Layout", "Policy", "RunResult", "Sim", "build_layout", "fast_pages",
           "footprint_pages", "objective",
           "simulate"]
