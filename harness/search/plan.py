"""What a sweep or study would run (`--dry-run`): points or trials, workloads,
seeds, evaluations, those already in the run directory, and a time estimate
from short simulations (estimate_sim_s). Nothing is written and Ray is not
started."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.experiment import Experiment
from harness.model import Sim, simulate
from harness.model.policies import make_policy
from harness.run.store import stored_eval_ids
from harness.search import fidelity
from harness.search.compare import all_seeds, compare_evaluations
from harness.search.study import reference_policies, trial_target, work_left
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
    finished: str = ""   # a finished study's run directory: nothing to run

    # A study's trials other than the first (the base knobs) spread over the
    # space: one simulation's mean seconds at a few random points of it, per
    # workload (the base knobs' cost made the estimate 2x the real time of the
    # shipped suite's study, whose cheap knobs score well).
    space_s: dict[str, float] = field(default_factory=dict)
    base_evals: int = 0  # evaluations at the base knobs (a study's trial 0, the RFC side)
    duration_s: float = 0.0  # the longest workload's simulated seconds
    # A multi-fidelity study's rungs, shortest first: step (s), trials expected
    # there, evaluations expected and left to run, their estimated CPU seconds.
    rungs: list[dict] = field(default_factory=list)
    pruner: str = ""
    early: bool = False  # async with a workload-prefix pruner: pruned trials stop early
    refs: int = 0     # reference evaluations still to run (normalized metrics), first
    holdout: int = 0  # the top trials on the holdout seeds, before the comparison

    @property
    def estimate_s(self) -> float:
        base = sum(self.sim_s.values()) / max(len(self.sim_s), 1)
        space = sum(self.space_s.values()) / len(self.space_s) if self.space_s else base
        if self.rungs:
            cpu = sum(r["cpu_s"] for r in self.rungs) + (self.own + self.compare
                                                         + self.refs + self.holdout) * base
            return START_S + cpu / max(self.slots, 1)
        left = self.evaluations - self.reused + self.own + self.compare + self.refs \
            + self.holdout
        at_base = min(self.base_evals, left)
        return START_S + (at_base * base + (left - at_base) * space) / max(self.slots, 1)

    def text(self) -> str:
        unit = {"sweep": "points", "tune": "trials", "compare": "policies"}[self.mode]
        if self.finished:
            return (f"{self.mode} plan: the study in {self.finished} is finished ({self.units} "
                    f"{unit}" + (" and the tuned-versus-RFC comparison" if self.compare else "")
                    + "); nothing to run: the same command prints its results again "
                    "(--trials N with more trials extends it); nothing was written")
        head = (f"{self.mode} plan: {self.units} {unit} x {len(self.workloads)} workloads "
                f"({', '.join(self.workloads)}) x {self.seeds} seeds")
        lines = [head + f" = {self.evaluations} evaluations"
                 + (" (at most: pruned trials stop early)" if self.early else "")
                 ] if not self.rungs else [
            head + f", multi-fidelity ({self.pruner}): rungs of "
            + ", ".join(f"{r['step']} s" for r in self.rungs)
            + f" = {self.evaluations} evaluations expected"]
        for r in self.rungs:
            lines.append(
                f"  rung {r['step']} s: {r['trials']:.0f} trials"
                + (f" expected (at most {self.units})" if r["trials"] < self.units else "")
                + f", {r['evals']:.0f} evaluations, {r['left']:.0f} to run"
                + (f" (and {r['refs']} references at {r['step']} s)" if r["refs"] else "")
                + f", about {r['cpu_s']:.0f} CPU s")
        lines += [
            f"  already in the run directory: {self.reused}; to run: "
            + (f"{self.refs} reference evaluations first, then " if self.refs else "")
            + f"{self.evaluations - self.reused}"
            + (f", then at most {self.holdout} for the top trials on the holdout seeds"
               if self.holdout else "")
            + (f", then {self.own} for the per-workload studies ({self.own_trials} trials "
               "each; regret)" if self.own_trials else "")
            + (f", then {self.compare} for the tuned-versus-RFC comparison" if self.compare
               else ""),
            "  one simulation: " + ", ".join(f"{w} {s:.2f} s" for w, s in self.sim_s.items())
            + " (estimated now from simulations of at most "
            f"{short_duration(self.duration_s):g} s, at the first seed and the base knobs"
            + (f"; {_mean(self.space_s):.2f} s on average at {SPACE_POINTS} random points of "
               "the space, in turn over the workloads" if self.space_s else "") + ")",
            f"  estimate: about {_duration(self.estimate_s)} on {self.slots} CPUs "
            f"(with {START_S:.0f} s for the start of Python and Ray); nothing was written",
        ]
        return "\n".join(lines)


def _duration(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


# A simulation longer than SHORT_MIN_S is estimated from a short one of
# max(SHORT_MIN_S, SHORT_SHARE x its duration): its setup (layout, pages) timed
# at the full duration, plus the short run, plus the rest at the rate of the
# short run's second half (the first half holds the start's promotion burst).
# Against full simulations of the production suite's workloads at 300 s (20 s
# short runs): 0.72-1.00x; shorter runs were further off (5 s: 0.4-3.3x).
SHORT_MIN_S = 20.0
SHORT_SHARE = 1 / 15


def short_duration(duration_s: float) -> float:
    return min(duration_s, max(SHORT_MIN_S, SHORT_SHARE * duration_s))


def estimate_sim_s(cfg) -> float:
    """Seconds one simulation of `cfg` takes, from a short simulation of it."""
    short = short_duration(cfg.duration_s)
    if short >= cfg.duration_s:
        t0 = time.perf_counter()
        simulate(cfg)
        return time.perf_counter() - t0
    t0 = time.perf_counter()
    Sim(cfg, make_policy(cfg.policy))  # the setup at the full duration
    setup = time.perf_counter() - t0
    c = cfg.replace({"duration_s": short})
    sim = Sim(c, make_policy(c.policy))
    half_us, mark = int(short * 500_000), []

    def at_half(s: Sim) -> None:
        if not mark and s.t >= half_us:
            mark.append(time.perf_counter())

    sim.after_event = at_half
    t1 = time.perf_counter()
    sim.run()
    t2 = time.perf_counter()
    rate = (t2 - (mark[0] if mark else t1)) / (short / 2)
    return setup + (t2 - t1) + (cfg.duration_s - short) * rate


def _warm(exp: Experiment) -> None:
    # A first, untimed short simulation loads (or compiles) the numba kernels:
    # timed, it made the estimate twice the real run's time.
    first = exp.run_config(exp.workloads[0], exp.seeds[0])
    simulate(first.replace({"duration_s": min(first.duration_s, 4.0)}))


def _time_one(exp: Experiment) -> dict[str, float]:
    _warm(exp)
    return {w: estimate_sim_s(exp.run_config(w, exp.seeds[0])) for w in exp.workloads}


SPACE_POINTS = 3
# Python's imports and local Ray's start before the first evaluation (3-6 s
# measured for ray.init on 2 cores, plus the driver's imports).
START_S = 6.0


def _mean(d: dict[str, float]) -> float:
    return sum(d.values()) / max(len(d), 1)


def _time_space(exp: Experiment, n: int = SPACE_POINTS) -> dict[str, float]:
    """One simulation's estimated seconds per workload at one of `n` random
    points of the study's space (its `when` conditions honoured, drawn from the
    study's seed), the points taken in turn over the workloads: the estimate
    only uses their mean."""
    space = exp.study.space
    rng = np.random.default_rng(exp.study.seed)
    defaults = exp.default_values([p.key for p in space])
    points = []
    for _ in range(n):
        params: dict = {}
        for p in space:
            if p.active({**defaults, **params}):
                params[p.key] = p.sample(rng)
        points.append(params)
    return {w: estimate_sim_s(exp.run_config(w, exp.seeds[0], points[i % n]))
            for i, w in enumerate(exp.workloads)}


def plan_sweep(exp: Experiment, out: Path, cpus: int | None) -> Plan:
    evals = sweep_evaluations(exp)
    done = stored_eval_ids(out)
    points = len({ev.trial for ev in evals})
    return Plan("sweep", points, list(exp.workloads), len(exp.seeds), len(evals),
                sum(ev.eval_id in done for ev in evals), 0, _time_one(exp),
                cpus or os.cpu_count() or 1, duration_s=exp.top_duration_s)


def plan_study(exp: Experiment, out: Path, trials: int | None, cpus: int | None,
               compare: bool = True, storage: str | None = None) -> Plan:
    st = exp.study
    target = trial_target(st, trials)
    if not work_left(exp, out, trials=trials, storage=storage, compare=compare):
        return Plan("tune", target, list(exp.workloads), len(exp.seeds), 0, 0, int(compare),
                    {}, cpus or os.cpu_count() or 1, finished=str(out))
    done = stored_eval_ids(out)
    tune_done = sum(i.startswith(f"{exp.name}/tune/") for i in done)
    per_trial = len(exp.workloads) * len(exp.seeds)
    own_trials = st.per_workload_trials if compare and not st.multi else 0
    own = own_trials * per_trial
    own_left = own - min(own, sum(i.startswith(f"{exp.name}/own/") for i in done))
    labels = 3 if own_trials else 2  # rfc-default, tuned (and each workload's own best)
    n_compare = labels * len(exp.workloads) * len(all_seeds(exp)) if compare else 0
    base_evals = (per_trial if st.enqueue_default and not tune_done else 0) + (
        n_compare // labels)  # trial 0, and the comparison's RFC side
    plan = Plan("tune", target, list(exp.workloads), len(exp.seeds), target * per_trial,
                min(tune_done, target * per_trial), n_compare, _time_one(exp),
                cpus or os.cpu_count() or 1, own_left, own_trials,
                space_s=_time_space(exp), base_evals=base_evals, duration_s=exp.top_duration_s)
    # Only the asynchronous schedule prunes on workload prefixes (generations
    # prune only a multi-fidelity study's rungs, shown per rung).
    plan.early = (st.schedule == "async" and not st.multi and len(exp.workloads) > 1
                  and st.pruner.kind != "none")
    if st.normalized:
        plan.refs = sum(ev.eval_id not in done for ev in compare_evaluations(
            exp, reference_policies(exp), None, out))
        plan.compare = max(plan.compare - len(exp.workloads) * len(all_seeds(exp)), 0)
    holdout = [s for s in exp.holdout_seeds if s not in exp.seeds]
    if st.top_k and holdout and not st.multi:
        from harness.experiment.provenance import is_proposed

        # With proposed knobs in the space each candidate also runs kernel-settable
        # (at most: candidates whose kernel-settable knobs coincide run once).
        kinds = 2 if any(is_proposed(p.key) for p in st.space) else 1
        plan.holdout = kinds * min(st.top_k, target) * len(exp.workloads) * len(holdout)
    if st.fidelity is not None:
        _add_rungs(plan, exp, target, done, out)
    return plan


def _add_rungs(plan: Plan, exp: Experiment, target: int, done: set[str], out: Path) -> None:
    """Per rung: the trials successive halving (or Hyperband) is expected to let
    run it, their evaluations, those already in the run directory, and CPU
    seconds at the space's mean cost in proportion to the rung's duration; plus
    the references at each lower rung's duration (normalized metrics)."""

    steps = fidelity.steps(exp)
    per_trial = len(exp.workloads) * len(exp.seeds)
    space = _mean(plan.space_s) if plan.space_s else _mean(plan.sim_s)
    base = _mean(plan.sim_s)
    tune = [i for i in done if i.startswith(f"{exp.name}/tune/")]
    rung_refs = fidelity.reference_evaluations(exp, out) if exp.study.normalized else {}
    for i, (step, n) in enumerate(zip(steps, fidelity.expected_trials(exp, target),
                                      strict=True)):
        top = i == len(steps) - 1
        mine = sum(("@" not in x) if top else (f"@{step}s/" in x) for x in tune)
        evals = n * per_trial
        left = max(evals - mine, 0)
        refs = sum(ev.eval_id not in done for ev in rung_refs.get(step, ()))
        share = step / steps[-1]
        plan.rungs.append({"step": step, "trials": n, "evals": evals, "left": left, "refs": refs,
                           "cpu_s": left * space * share + refs * base * share})
    plan.evaluations = round(sum(r["evals"] for r in plan.rungs))
    plan.reused = plan.evaluations - round(sum(r["left"] for r in plan.rungs))
    plan.pruner = f"{exp.study.fidelity.pruner}, reduction factor " \
        f"{exp.study.fidelity.reduction_factor}"


def plan_compare(exp: Experiment, out: Path, policies: list[str], tuned, cpus: int | None
                 ) -> Plan:
    evals = compare_evaluations(exp, policies, tuned, out)
    done = stored_eval_ids(out)
    return Plan("compare", len(policies), list(exp.workloads), len(all_seeds(exp)),
                len(evals), sum(ev.eval_id in done for ev in evals), 0, _time_one(exp),
                cpus or os.cpu_count() or 1, duration_s=exp.top_duration_s)


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
