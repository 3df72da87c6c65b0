"""Multi-fidelity studies: rungs over the simulated duration, decided by Optuna.

With ``study.fidelity`` a trial is first simulated for a short share of every
workload's ``duration_s`` (rung 0), on every workload and study seed; its suite
value there is reported to Optuna (``trial.report(value, step=seconds)``) and
the study's pruner (``SuccessiveHalvingPruner`` or ``HyperbandPruner``, its
``min_resource`` the first rung's seconds) says whether it runs the next,
longer rung. Only trials that survive every rung are simulated in full and
told complete; the others are told PRUNED, their intermediate values kept in
the storage (and used by TPE, which ranks pruned trials by them).

Determinism: the driver runs a generation's rung to the end before any
trial of it reports, then reports and asks ``should_prune`` in trial-number
order, so every decision sees the same reports whatever the number of CPUs
or the order in which evaluations finished.

A longer rung starts the simulation again from t = 0 (the model keeps no
checkpoint), so a survivor costs the sum of its rungs; the rows of the lower
rungs stay in the run directory (eval ids ``t00012@33s``), and a resumed run
finds them there. With normalized metrics every lower rung has its own
references (the RFC defaults and the oracle at the rung's duration).
"""

from __future__ import annotations

import dataclasses
import math

from harness.experiment import DEFAULT_LABEL, Experiment
from harness.run.worker import Evaluation, eval_id


def steps(exp: Experiment) -> tuple[int, ...]:
    """The rungs' seconds (the longest workload's duration at each), shortest first."""
    return exp.study.fidelity.steps(exp.top_duration_s)


def rung_key(point: str, step: int) -> str:
    """The eval-id key of a lower rung's evaluation (`t00012@33s`)."""
    return f"{point}@{step}s"


def at_rung(evals: list[Evaluation], rung: int, all_steps: tuple[int, ...]) -> list[Evaluation]:
    """The evaluations of rung `rung`: the full ones at the top rung, else each
    simulated for steps[rung] / steps[-1] of its duration, under its own id."""
    if rung == len(all_steps) - 1:
        return evals
    share, step = all_steps[rung] / all_steps[-1], all_steps[rung]
    out = []
    for ev in evals:
        point = ev.eval_id.split("/")[2]  # eval_id's key: t00012, default, oracle
        d = round(ev.cfg.duration_s * share, 3)
        out.append(dataclasses.replace(
            ev, eval_id=eval_id(ev.run, ev.mode, rung_key(point, step), ev.workload, ev.seed),
            cfg=ev.cfg.replace({"duration_s": d})))
    return out


def make_pruner(exp: Experiment):
    """The study's pruner over the rungs' steps (seconds)."""
    import optuna

    fid, st = exp.study.fidelity, steps(exp)
    if fid.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=st[0], max_resource=st[-1],
                                              reduction_factor=fid.reduction_factor)
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=st[0],
                                                  reduction_factor=fid.reduction_factor)


def reference_evaluations(exp: Experiment, out_dir) -> dict[int, list[Evaluation]]:
    """Per lower rung's step: the RFC defaults and the oracle on every workload
    and study seed at that rung's duration (the references of its rows)."""
    from harness.search.compare import compare_evaluations

    base = [ev for ev in compare_evaluations(exp, [DEFAULT_LABEL, "oracle"], None, out_dir)
            if ev.seed in exp.seeds]
    all_steps = steps(exp)
    return {all_steps[r]: at_rung(base, r, all_steps) for r in range(len(all_steps) - 1)}


def expected_trials(exp: Experiment, trials: int) -> list[float]:
    """Trials expected to run each rung out of `trials`: successive halving keeps
    the best 1/rf at each rung; Hyperband splits the trials over its brackets
    (bracket b first decides at rung b, with ceil(n rf^s / (s + 1)) shares,
    s = n - 1 - b, as Optuna allocates them)."""
    fid, n = exp.study.fidelity, len(steps(exp))
    rf = fid.reduction_factor
    if fid.pruner != "hyperband":
        return [trials / rf ** i for i in range(n)]
    # Optuna's bracket count: floor(log_rf(max / min)) + 1 (the same as n here).
    shares = [math.ceil(n * rf ** (n - 1 - b) / (n - b)) for b in range(n)]
    total = sum(shares)
    return [sum(trials * shares[b] / total / rf ** max(0, i - b) for b in range(n))
            for i in range(n)]
