"""What a sweep or study would run (`--dry-run`): points or trials, workloads,
seeds, evaluations, those already in the run directory, and a time estimate
from one timed simulation per workload. Nothing is written and Ray is not
started."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.experiment import Experiment
from harness.model import simulate
from harness.run.store import stored_eval_ids
from harness.search.compare import all_seeds, compare_evaluations
from harness.search.study import trial_target
from harness.search.sweep import sweep_evaluations


@dataclass
class Plan:
    mode: str            # sweep | tune
    units: int           # sweep points, or trials wanted
    workloads: list[str]
    seeds: int
    evaluations: int     # of the sweep or study itself
    reused: int          # of those, already in the run directory
    compare: int         # the default-versus-tuned evaluations at the end (tune)
    sim_s: dict[str, float]  # one simulation's seconds per workload (timed here)
    slots: int           # simulations at once
    own: int = 0         # per-workload studies' evaluations still to run (tune, regret)
    own_trials: int = 0  # trials of each per-workload study

    @property
    def estimate_s(self) -> float:
        per = sum(self.sim_s.values()) / max(len(self.sim_s), 1)
        return ((self.evaluations - self.reused + self.own + self.compare) * per
                / max(self.slots, 1))

    def text(self) -> str:
        unit = {"sweep": "points", "tune": "trials", "compare": "policies"}[self.mode]
        lines = [
            f"{self.mode} plan: {self.units} {unit} x {len(self.workloads)} workloads "
            f"({', '.join(self.workloads)}) x {self.seeds} seeds = {self.evaluations} evaluations"
            + (" (at most: pruned trials stop early)" if self.mode == "tune" else ""),
            f"  already in the run directory: {self.reused}; to run: "
            f"{self.evaluations - self.reused}"
            + (f", then {self.own} for the per-workload studies ({self.own_trials} trials "
               "each; regret)" if self.own_trials else "")
            + (f", then {self.compare} for the tuned-versus-RFC comparison" if self.compare
               else ""),
            "  one simulation: " + ", ".join(f"{w} {s:.2f} s" for w, s in self.sim_s.items())
            + " (timed now, at the first seed and the base knobs)",
            f"  estimate: about {_duration(self.estimate_s)} on {self.slots} CPUs "
            "(plus Ray's start, a few seconds); nothing was written",
        ]
        return "\n".join(lines)


def _duration(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _time_one(exp: Experiment) -> dict[str, float]:
    out = {}
    for w in exp.workloads:
        t0 = time.perf_counter()
        simulate(exp.run_config(w, exp.seeds[0]))
        out[w] = time.perf_counter() - t0
    return out


def plan_sweep(exp: Experiment, out: Path, cpus: int | None) -> Plan:
    evals = sweep_evaluations(exp)
    done = stored_eval_ids(out)
    points = len({ev.trial for ev in evals})
    return Plan("sweep", points, list(exp.workloads), len(exp.seeds), len(evals),
                sum(ev.eval_id in done for ev in evals), 0, _time_one(exp),
                cpus or os.cpu_count() or 1)


def plan_study(exp: Experiment, out: Path, trials: int | None, cpus: int | None,
               compare: bool = True) -> Plan:
    st = exp.study
    target = trial_target(st, trials)
    done = stored_eval_ids(out)
    tune_done = sum(i.startswith(f"{exp.name}/tune/") for i in done)
    per_trial = len(exp.workloads) * len(exp.seeds)
    own_trials = st.per_workload_trials if compare and not st.multi else 0
    own = own_trials * per_trial
    own_left = own - min(own, sum(i.startswith(f"{exp.name}/own/") for i in done))
    labels = 3 if own_trials else 2  # rfc-default, tuned (and each workload's own best)
    n_compare = labels * len(exp.workloads) * len(all_seeds(exp)) if compare else 0
    return Plan("tune", target, list(exp.workloads), len(exp.seeds), target * per_trial,
                min(tune_done, target * per_trial), n_compare, _time_one(exp),
                cpus or os.cpu_count() or 1, own_left, own_trials)


def plan_compare(exp: Experiment, out: Path, policies: list[str], tuned, cpus: int | None
                 ) -> Plan:
    evals = compare_evaluations(exp, policies, tuned, out)
    done = stored_eval_ids(out)
    return Plan("compare", len(policies), list(exp.workloads), len(all_seeds(exp)),
                len(evals), sum(ev.eval_id in done for ev in evals), 0, _time_one(exp),
                cpus or os.cpu_count() or 1)


def footprint_lines(exp: Experiment) -> str:
    """One line per workload, `NAME: footprint 16.0 GiB, fast 4.0 GiB, 300 s`
    (at the first seed and the base knobs), for checking a plan by eye or script."""
    from harness.model import fast_pages, footprint_pages

    lines = []
    for w in exp.workloads:
        cfg = exp.run_config(w, exp.seeds[0])
        pages = footprint_pages(cfg)
        gib = cfg.platform.page_bytes / (1 << 30)
        lines.append(f"{w}: footprint {pages * gib:.1f} GiB, fast "
                     f"{fast_pages(cfg, pages) * gib:.1f} GiB, {cfg.duration_s:g} s")
    return "\n".join(lines)
