"""Optuna studies over a workload suite: the entry point.

One trial = the trial's knob values evaluated on every suite workload with
every seed; its value for each objective is the metric's mean over seeds per
workload, aggregated over workloads (mean / worst / gmean, see
harness.search.aggregate). With a normalized objective or guards, the suite's
reference runs (none, NUMAB2, RFC defaults, oracle on every workload and
seed) come first, and every row is scored against them
(harness.analysis.normalize).

The parts: asking and telling (harness.search.driver), when trials start
(harness.search.schedule: generations of fixed size told in trial-number
order, or asynchronous), storage and resumption (harness.search.setup,
harness.search.resume), reporting (harness.search.study_report), the choice on
holdout seeds (harness.search.holdout), the final tuned-versus-default
comparison (harness.search.compare).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

from harness import atomic
from harness.analysis.normalize import References
from harness.errors import ConfigError, TiersweepError
from harness.experiment import BASELINES, DEFAULT_LABEL, Experiment
from harness.run.backends import Backend
from harness.run.progress import progress_bar
from harness.run.runner import run_evaluations
from harness.run.store import ResultStore, RunLock, finish_manifest, jsonable, start_manifest
from harness.run.store.layout import STUDY_TRIALS, SUMMARY
from harness.search import _optuna as O
from harness.search import fidelity
from harness.search.compare import compare_default, compare_evaluations
from harness.search.driver import Driver
from harness.search.holdout import choose
from harness.search.resume import budget_used
from harness.search.schedule import run_loop
from harness.search.setup import (
    DEFAULT_TRIALS,
    one_driver_at_a_time,
    open_study,
    own_study_name,
    prepare,
    shares_study,
    trial_target,
    work_left,
)
from harness.search.study_report import StudyReport, best_postfix

__all__ = ["DEFAULT_TRIALS", "StudyReport", "own_study_name", "references", "run_study",
           "shares_study", "trial_target", "work_left"]

# The baselines run beside the RFC defaults before a normalized study (and shown
# in its headline); study.baselines may leave some out. A new baseline policy is
# one more entry in harness.experiment.spec's BASELINES and in
# harness.search.compare's policies.
REFERENCE_POLICIES = (*BASELINES, DEFAULT_LABEL, "oracle")


def reference_policies(exp: Experiment) -> list[str]:
    """REFERENCE_POLICIES less the baselines the study leaves out."""
    keep = set(exp.study.baselines) | {DEFAULT_LABEL, "oracle"}
    return [p for p in REFERENCE_POLICIES if p in keep]


def _run_references(exp: Experiment, evals, store: ResultStore, backend: Backend,
                    progress: bool, desc: str) -> pd.DataFrame:
    """Run reference evaluations (compare mode); their rows."""
    out = run_evaluations(evals, store, backend, run=exp.name, mode="compare",
                          progress=progress, desc=desc)
    if out.errors:
        raise TiersweepError(f"reference evaluations failed: {out.errors[0][1]}")
    return out.table


def _from_rows(t: pd.DataFrame) -> References:
    """The references of rows holding the oracle's and the RFC defaults' runs."""
    return References.from_rows(t[t["label"] == "oracle"], t[t["label"] == DEFAULT_LABEL])


def references(exp: Experiment, store: ResultStore, backend: Backend,
               progress: bool) -> tuple[References, pd.DataFrame]:
    """The reference runs (reference_policies on every workload and seed, compare
    mode: the final comparison reuses them) and the references derived from them."""
    evals = compare_evaluations(exp, reference_policies(exp), None, store.dir)
    t = _run_references(exp, evals, store, backend, progress, "references")
    return _from_rows(t), t


def rung_references(exp: Experiment, store: ResultStore, backend: Backend,
                    progress: bool) -> dict[int, References]:
    """A multi-fidelity study's references at each lower rung's duration: the RFC
    defaults and the oracle on every workload and study seed (harness.search.fidelity)."""
    by_step = fidelity.reference_evaluations(exp, store.dir)
    t = _run_references(exp, [ev for e in by_step.values() for ev in e], store, backend,
                        progress, "rung references")
    return {step: _from_rows(t[t["eval_id"].isin([ev.eval_id for ev in e])])
            for step, e in by_step.items()}


def per_workload_studies(exp: Experiment, storage, store: ResultStore, backend: Backend,
                          progress: bool, by_config: dict[str, dict],
                          shared_best: dict | None = None, shared: bool = False,
                          refs: References | None = None) -> tuple[dict[str, dict], int, int]:
    """Each suite workload's own study (study.per_workload_trials trials, the same
    space, sampler and seed, that workload alone): its best trial, the regret
    baseline. Its first trials are the RFC defaults and the shared study's best
    (`shared_best`), so a workload's own best is never worse than either on its
    study seeds. Rows go to the run's store with mode "own"; resumed like the
    shared study. Returns the bests and the evaluations run and found identical."""
    st = exp.study
    out: dict[str, dict] = {}
    n_run = n_identical = 0
    if not st.per_workload_trials or st.multi:
        return out, 0, 0
    for w in exp.workloads:
        exp_w = exp.only(w)
        with one_driver_at_a_time(store.dir, shared):
            study = open_study(exp_w, storage, O.make_pruner(st, 1, f"{exp.source}: study"),
                                own_study_name(exp, w))
            fresh = not study.get_trials(deepcopy=False)
            prepare(exp_w, study, shared)
            if fresh and shared_best:
                # The shared default is one of its candidates: the own best is then at
                # least as good on this workload's study seeds (regret >= 0 there).
                study.enqueue_trial(dict(shared_best["params"]),
                                    user_attrs={"label": "shared-best"}, skip_if_exists=True)
        target = st.per_workload_trials
        bar = progress_bar(target, min(budget_used(study), target), f"own {w}", progress,
                           unit="trial")
        driver = Driver(exp_w, study, store, backend, target=target, timeout_s=None, bar=bar,
                        mode="own", by_config=by_config, shared=shared, refs=refs)
        try:
            run_loop(driver)
        finally:
            bar.close()
            store.flush()
        n_run, n_identical = n_run + driver.run, n_identical + driver.identical
        best = O.best_trials(study, st)
        if best:
            out[w] = best[0]
    return out, n_run, n_identical


def fidelity_summary(exp: Experiment, study, driver: Driver) -> dict:
    """A multi-fidelity study's rungs: seconds, trials that reported there, pruned
    trials, and evaluations this run simulated per rung ({} without fidelity)."""
    if exp.study.fidelity is None:
        return {}
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return {"pruner": exp.study.fidelity.pruner,
            "steps_s": list(driver.steps),
            "reported": [sum(1 for t in trials if s in t.intermediate_values)
                         for s in driver.steps],
            "pruned": sum(1 for t in trials if t.state == TrialState.PRUNED),
            "evaluations_run": list(driver.rung_evals)}


def run_study(exp: Experiment, out_dir: str | Path, backend: Backend, *, trials: int | None = None,
              timeout_s: float | None = None, storage: str | None = None, progress: bool = True,
              command: list[str] | None = None, compare: bool = True) -> StudyReport:
    if exp.study is None:
        raise ConfigError(f"{exp.source}: study: missing; add a study: section with a space")
    O.quiet()  # Optuna's log level, for this process's study (not at import)
    st = exp.study
    out = Path(out_dir)
    target = trial_target(st, trials)
    timeout_s = timeout_s if timeout_s is not None else st.timeout_s
    t0 = time.perf_counter()
    shared = shares_study(storage)
    with RunLock.reuse(out, shared=shared):
        # Drivers sharing a study create the schema, the study and its first
        # trials one at a time (concurrent CREATEs collide).
        with one_driver_at_a_time(out, shared):
            storage_obj, storage_desc, repaired = O.make_storage(out, storage)
            pruner = (fidelity.make_pruner(exp) if st.fidelity is not None else
                      O.make_pruner(st, len(exp.workloads), f"{exp.source}: study"))
            study = open_study(exp, storage_obj, pruner)
            recovered = prepare(exp, study, shared)
        manifest = start_manifest(out, mode="tune", fingerprint=exp.fingerprint("tune"),
                                  experiment=exp.describe(), command=command,
                                  extra={"backend": backend.describe(), "storage": storage_desc,
                                         "trials": target, "timeout_s": timeout_s,
                                         "shared": shared},
                                  top={"storage": storage_desc})  # where readers find the study
        store = ResultStore(out)
        refs, rung_refs = None, {}
        if st.normalized:
            refs, _ = references(exp, store, backend, progress)
            if st.fidelity is not None:
                rung_refs = rung_references(exp, store, backend, progress)
        bar = progress_bar(target, min(budget_used(study), target), f"tune {exp.name}",
                           progress, unit="trial")
        if repaired:
            bar.write(f"tiersweep: {storage_desc}: dropped an incomplete last record "
                      "(a killed writer)", file=sys.stderr)
        postfix = best_postfix(study, st)
        if postfix:
            bar.set_postfix_str(postfix, refresh=False)
        driver = Driver(exp, study, store, backend, target=target, timeout_s=timeout_s,
                        bar=bar, table=progress, shared=shared, refs=refs, rung_refs=rung_refs)
        status = "interrupted"
        try:
            run_loop(driver)
            status = "done"
        finally:
            bar.close()
            store.flush()
            store.consolidate()
            O.write_trials_table(study, out / STUDY_TRIALS)
            if status != "done":
                finish_manifest(out, manifest, status)
        trials_wall_s = time.perf_counter() - t0

        counts = O.state_counts(study)
        best = O.best_trials(study, st)
        comparison = regret = pd.DataFrame()
        own_run = own_identical = 0
        choice: dict = {}
        if best and not st.multi:  # the recommendation, chosen on the holdout seeds
            choice = choose(exp, study, store, backend, refs, progress)
        if best and compare:
            rec = dict(best[0])
            if choice:
                r = choice["recommendation"]
                rec = {**rec, "number": r["trial"], "params": r["params"]}
            own, own_run, own_identical = per_workload_studies(
                exp, storage_obj, store, backend, progress, driver.by_config, rec, shared, refs)
            comparison, regret = compare_default(exp, rec, store, backend, progress, own, refs)
        store.consolidate()
        fid = fidelity_summary(exp, study, driver)
        summary = {"best": best, "counts": counts, "storage": storage_desc,
                   "comparison": comparison.to_dict("records"),
                   "regret": regret.to_dict("records"), "choice": choice,
                   "references": refs.to_records() if refs is not None else [],
                   "told": driver.told,
                   "fidelity": fid}
        atomic.write_text(out / SUMMARY, json.dumps(jsonable(summary), indent=2) + "\n",
                          sync=True)
        finish_manifest(out, manifest, "done", counts=counts, best=best[0] if best else None)
    return StudyReport(out_dir=out, storage=storage_desc, counts=counts,
                       wall_s=time.perf_counter() - t0, best=best, comparison=comparison,
                       regret=regret,
                       importances=O.importances(study, st), recovered=recovered,
                       evaluations_run=driver.run, evaluations_reused=driver.reused,
                       evaluations_identical=driver.identical + own_identical,
                       own_evaluations_run=own_run,
                       trials_wall_s=trials_wall_s, rows=len(store),
                       repaired_journal=repaired, choice=choice,
                       infeasible=O.infeasible_count(study), fidelity=fid)
