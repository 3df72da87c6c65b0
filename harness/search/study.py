"""Optuna studies over a workload suite: an ask-and-tell driver feeding backend tasks.

One trial = the trial's knob values evaluated on every suite workload with
every seed; its value for each objective is the metric's mean over seeds per
workload, aggregated over workloads (mean / worst / gmean, see
harness.search.aggregate). Trials run asynchronously: whenever the scheduler has a
free slot and nothing queued, the driver asks Optuna for the next trial, so
a new trial starts as soon as capacity frees up (no batches).

Pruning (single objective): step k reports the aggregate over the first k+1
workloads (in suite order, once all their seeds are in), so every trial's
step k covers the same workloads; a pruned trial's remaining work is
cancelled.

Storage and resume: the study lives in Optuna's journal file storage in the
run directory (or any storage URL given); how a study left by a dead driver
is taken up again: harness.search.resume. Optuna factories:
harness.search._optuna. The final tuned-versus-default comparison:
harness.search.compare. Presentation of the report: the tune command.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness import atomic
from harness.errors import ConfigError
from harness.experiment import DEFAULT_LABEL, Experiment, StudySpec
from harness.experiment.spec import TUNED
from harness.run.backends import Backend
from harness.run.progress import progress_bar
from harness.run.runner import config_key
from harness.run.scheduler import Scheduler
from harness.run.store import (
    ResultStore,
    RunLock,
    finish_manifest,
    jsonable,
    start_manifest,
    stored_eval_ids,
)
from harness.run.store.layout import ANOTHER_RUN_DIR, JOURNAL, STUDY_TRIALS, SUMMARY
from harness.run.store.lock import store_lock
from harness.run.worker import Evaluation, make_row
from harness.search import _optuna as O
from harness.search.aggregate import aggregate, per_workload
from harness.search.compare import compare_default
from harness.search.resume import (
    DRIVER_ATTR,
    budget_taken,
    budget_used,
    driver_id,
    recover_stale,
    root_of,
)
from harness.search.trial import TrialRun, suite_values, trial_evaluations

DEFAULT_TRIALS = 40


# ----------------------------------------------------------------- setup


def _enqueue_default(exp: Experiment, study) -> None:
    """Trial 0 = the RFC defaults when they lie inside the space (a known-good start)."""
    st = exp.study
    values = exp.default_values([p.key for p in st.space])
    params: dict[str, Any] = {}
    for p in st.space:
        if not p.active({**values, **params}):
            continue
        v = values.get(p.key)
        if v is None or not p.contains(v):
            return
        params[p.key] = v
    study.enqueue_trial(params, user_attrs={"label": DEFAULT_LABEL}, skip_if_exists=True)


def trial_target(st: StudySpec, trials: int | None) -> int:
    """Finished trials wanted: the request, the spec's, or 40; a grid's size at most."""
    target = trials or st.trials or DEFAULT_TRIALS
    if st.sampler == "grid":  # every grid point once
        size = math.prod(len(p.grid_values()) for p in st.space)
        target = min(trials or st.trials or size, size)
    return target


def best_postfix(study, st: StudySpec) -> str:
    """The progress bar's note: the best value so far, or the front's size."""
    try:
        b = O.best_trials(study, st)
    except Exception:  # noqa: BLE001 - e.g. no complete trial yet
        return ""
    if not b:
        return ""
    if st.multi:
        return f"pareto {len(b)}"
    return f"best {b[0]['values'][0]:.4g} (t{b[0]['number']})"


# ----------------------------------------------------------------- driver


class _Driver:
    """The ask-and-tell loop: start trials while there is capacity, feed results
    back, prune, tell Optuna. Rows reach the store before Optuna hears of a trial."""

    def __init__(self, exp: Experiment, study, store: ResultStore, backend: Backend, *,
                 target: int, timeout_s: float | None, bar, mode: str = "tune",
                 by_config: dict[str, dict] | None = None, table: bool = False,
                 shared: bool = False):
        from optuna.pruners import NopPruner

        self.exp, self.st, self.study, self.store = exp, exp.study, study, store
        self.mode = mode
        self.shared = shared  # other drivers work on the same study (database storage)
        self.table, self._header_done = table, False  # a line per finished trial
        self.workloads = exp.workloads
        self.n_seeds = len(exp.seeds)
        self.target = target
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.bar = bar
        self.sched = Scheduler(backend)
        self.active: dict[int, TrialRun] = {}
        self.used = budget_used(study)
        self.run = 0     # evaluations run now
        self.reused = 0  # evaluations found in the store (a dead predecessor's)
        self.identical = 0  # evaluations whose knobs an earlier trial of this run ran
        # resolved config -> its row, this invocation (shared with the per-workload studies)
        self.by_config: dict[str, dict] = {} if by_config is None else by_config
        self._keys: dict[str, str] = {}  # eval_id -> its config key, while in flight
        self.prune = not self.st.multi and not isinstance(study.pruner, NopPruner)
        # Knobs that decide whether a conditional parameter is active.
        self.defaults = exp.default_values([k for p in self.st.space for k, _ in p.when])

    def room(self) -> bool:
        """Budget left for one more trial. Alone, the count kept here; sharing the
        study with other drivers (a database storage), every driver's trials in it."""
        if not self.shared:
            return self.used + len(self.active) < self.target
        taken = budget_taken(self.study.get_trials(deepcopy=False), exclude=set(self.active))
        return taken + len(self.active) < self.target

    def loop(self) -> None:
        while True:
            while (self.sched.wants_work() and self.room()
                   and (self.deadline is None or time.monotonic() < self.deadline)):
                self.start_trial()
            if not self.active:
                return
            for ev, res in self.sched.step(timeout=0.5):
                self.on_result(ev, res)
            self.store.maybe_flush()

    def run_loop(self) -> None:
        """loop(); interrupted or crashed, hand the trials in flight on (abandon)."""
        try:
            self.loop()
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Interrupted or crashed: keep what finished, hand the trials in flight to
        the next run exactly as a dead driver would."""
        self.sched.cancel_all()
        self.store.flush()
        with contextlib.suppress(Exception):  # the next run recovers them anyway
            recover_stale(self.study)

    # ------------------------------------------------------------- steps
    def start_trial(self) -> None:
        from optuna.trial import TrialState

        trial = self.study.ask()
        trial.set_user_attr(DRIVER_ATTR, driver_id())
        if self.shared and budget_taken(self.study.get_trials(deepcopy=False),
                                        before=trial.number) >= self.target:
            # Another driver took the last place between the count and this ask.
            trial.set_user_attr("over_budget", True)
            self.study.tell(trial, state=TrialState.FAIL)
            return
        root = root_of(trial)
        label = str(trial.user_attrs.get("label", f"t{trial.number}"))
        trial.set_user_attr("root_trial", root)
        params: dict[str, Any] = {}
        for p in self.st.space:
            if p.active({**self.defaults, **params}):
                params[p.key] = p.suggest(trial)
        try:
            evals = trial_evaluations(self.exp, trial.number, root, label, params,
                                      mode=self.mode)
        except ConfigError as exc:
            tr = TrialRun(trial, trial.number, root, label, params, [])
            self.bar.write(f"tiersweep: trial {trial.number}: infeasible knobs: {exc}",
                           file=sys.stderr)
            self.finish(tr, TrialState.FAIL, error=f"infeasible: {exc}")
            return
        tr = TrialRun(trial, trial.number, root, label, params, evals)
        todo = []
        for ev in evals:
            row = self.store.get(ev.eval_id)
            same = None
            if row is None:
                key = self._keys[ev.eval_id] = config_key(ev)
                same = self.by_config.get(key)
            if same is not None:  # an earlier trial ran these very knobs: reuse its result
                row = {**same, "eval_id": ev.eval_id, "mode": ev.mode, "trial": trial.number,
                       "label": label}
                self.store.add(row)
                tr.add(ev, row)
                self.identical += 1
                continue
            if row is None:
                todo.append(ev)
                continue
            # Finished by a predecessor of this trial (same root): reuse it.
            if row.get("trial") != trial.number:
                row = {**row, "trial": trial.number, "label": label}
                self.store.add(row)
            tr.add(ev, row)
            self.reused += 1
        self.active[trial.number] = tr
        if tr.complete:
            self.complete(tr)
        else:
            self.sched.add(todo)

    def on_result(self, ev: Evaluation, res: dict) -> None:
        from optuna.trial import TrialState

        tr = self.active.get(ev.group)
        if tr is None:
            return  # a pruned or failed trial's straggler
        if not res.get("ok"):
            self.sched.cancel_group(tr.number)
            self.bar.write(f"tiersweep: trial {tr.number}: evaluation {ev.eval_id} "
                           f"failed: {res.get('error')}", file=sys.stderr)
            self.finish(tr, TrialState.FAIL, error=str(res.get("error")))
            return
        row, ts = make_row(ev, res)
        self.store.add(row, ts)
        tr.add(ev, row)
        self.by_config[self._keys.pop(ev.eval_id, None) or config_key(ev)] = row
        self.run += 1
        if self.prune and self.maybe_prune(tr):
            return
        if tr.complete:
            self.complete(tr)

    def maybe_prune(self, tr: TrialRun) -> bool:
        """Report each newly finished workload prefix; prune (and cancel) if told to."""
        from optuna.trial import TrialState

        o = self.st.objectives[0]
        wls = self.workloads
        while tr.reported < len(wls) and tr.workload_done(wls[tr.reported], self.n_seeds):
            step = tr.reported
            prefix = wls[:step + 1]
            means = per_workload(tr.values(o.metric, prefix))
            value = aggregate([means[w] for w in prefix], o.aggregate, o.direction,
                              self.st.gmean_shift)
            tr.reported += 1
            if math.isnan(value):
                continue
            tr.trial.report(value, step)
            if step < len(wls) - 1 and tr.trial.should_prune():
                self.sched.cancel_group(tr.number)
                self.finish(tr, TrialState.PRUNED)
                return True
        return False

    def complete(self, tr: TrialRun) -> None:
        from optuna.trial import TrialState

        per_wl = {o.metric: tr.values(o.metric, self.workloads) for o in self.st.objectives}
        self.finish(tr, TrialState.COMPLETE, suite_values(self.exp, per_wl))

    def finish(self, tr: TrialRun, state, values=None, error: str | None = None) -> None:
        from optuna.trial import TrialState

        self.store.flush()  # rows durable before Optuna hears of the trial
        self.active.pop(tr.number, None)
        if error:
            tr.trial.set_user_attr("error", error[:500])
        if state == TrialState.COMPLETE:
            per = {o.metric: per_workload(tr.values(o.metric, self.workloads))
                   for o in self.st.objectives}
            tr.trial.set_user_attr("per_workload", per)
            ft = self.study.tell(tr.trial, values if self.st.multi else values[0])
            if ft.state != TrialState.COMPLETE:
                self.bar.write(f"tiersweep: trial {tr.number}: objective is not a number "
                               f"({values}); marked failed", file=sys.stderr)
        else:
            self.study.tell(tr.trial, state=state)
        self.used += 1
        if self.table:
            self._table_row(tr, state, values)
        self.bar.update(1)
        text = best_postfix(self.study, self.st)
        if text:
            self.bar.set_postfix_str(text)

    def _table_row(self, tr: TrialRun, state, values) -> None:
        """One line per finished trial above the progress bar (a live table on a
        terminal, plain lines in a log): trial, state, value, best so far, knobs."""
        if not self._header_done:
            self.bar.write(f"{'trial':>6} {'state':<9} {'value':>10} {'best':>10}  knobs",
                           file=sys.stderr)
            self._header_done = True
        name = state.name.lower()
        val = ("/".join(f"{v:.4g}" for v in values) if name == "complete" and values is not None
               else "-")
        try:
            best = O.best_trials(self.study, self.st)
            best_s = (f"{best[0]['values'][0]:.4g}" if best and not self.st.multi
                      else f"{len(best)} front" if best else "-")
        except Exception:  # noqa: BLE001 - no complete trial yet
            best_s = "-"
        knobs = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in tr.params.items())
        self.bar.write(f"{tr.number:>6} {name:<9} {val:>10} {best_s:>10}  {knobs}",
                       file=sys.stderr)


# ----------------------------------------------------------------- entry


@dataclass
class StudyReport:
    out_dir: Path
    storage: str
    counts: dict[str, int]    # trials per state
    wall_s: float
    best: list[dict]          # best trial(s): number, values, params
    comparison: pd.DataFrame  # per objective x workload: default vs tuned (empty if skipped)
    regret: pd.DataFrame      # per workload: own best, tuned, RFC, regret (analysis.regret)
    importances: dict[str, dict[str, float]]  # per objective metric: knob -> importance
    recovered: list[int]      # trials a dead driver left running (failed and retried)
    evaluations_run: int
    evaluations_reused: int
    trials_wall_s: float      # the trials alone (the comparison excluded)
    rows: int                 # rows in the run directory's trials table
    repaired_journal: bool = False  # a torn last journal record was dropped
    evaluations_identical: int = 0  # an earlier trial's result, the same knobs (not rerun)
    own_evaluations_run: int = 0    # by the per-workload studies (regret)


def _open_study(exp: Experiment, storage, pruner, name: str | None = None):
    """Create or load the study; refuse a stored one whose directions differ."""
    st = exp.study
    name = name or exp.name
    study = O.optuna().create_study(study_name=name, storage=storage,
                                    directions=st.directions, pruner=pruner,
                                    load_if_exists=True)
    stored = [d.name.lower() for d in study.directions]
    if stored != st.directions:
        raise ConfigError(f"{exp.source}: study.objectives: the stored study {name} has "
                          f"directions {stored}; {ANOTHER_RUN_DIR}")
    return study


def shares_study(storage: str | None) -> bool:
    """A database storage (an URL other than a journal file): several drivers may
    run the study at once, in one run directory (RunLock shared, per-driver part
    files, merges under the store lock, the budget counted in the storage)."""
    return storage is not None and "://" in storage


def _one_driver_at_a_time(out: Path, shared: bool):
    """The store lock when drivers share the study (a database's schema, a study
    and its first trials are created by one at a time), else nothing to wait for."""
    return store_lock(out) if shared else contextlib.nullcontext()


def own_study_name(exp: Experiment, workload: str) -> str:
    """The Optuna study of one workload's own knobs, in the run's storage."""
    return f"{exp.name}:{workload}"


def _per_workload_studies(exp: Experiment, storage, store: ResultStore, backend: Backend,
                          progress: bool, by_config: dict[str, dict],
                          shared_best: dict | None = None, shared: bool = False
                          ) -> tuple[dict[str, dict], int, int]:
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
        with _one_driver_at_a_time(store.dir, shared):
            study = _open_study(exp_w, storage, O.make_pruner(st, 1, f"{exp.source}: study"),
                                own_study_name(exp, w))
            fresh = not study.get_trials(deepcopy=False)
            _prepare(exp_w, study, shared)
            if fresh and shared_best:
                # The shared default is one of its candidates: the own best is then at
                # least as good on this workload's study seeds (regret >= 0 there).
                study.enqueue_trial(dict(shared_best["params"]),
                                    user_attrs={"label": "shared-best"}, skip_if_exists=True)
        target = st.per_workload_trials
        bar = progress_bar(target, min(budget_used(study), target), f"own {w}", progress,
                           unit="trial")
        driver = _Driver(exp_w, study, store, backend, target=target, timeout_s=None, bar=bar,
                         mode="own", by_config=by_config, shared=shared)
        try:
            driver.run_loop()
        finally:
            bar.close()
            store.flush()
        n_run, n_identical = n_run + driver.run, n_identical + driver.identical
        best = O.best_trials(study, st)
        if best:
            out[w] = best[0]
    return out, n_run, n_identical


def _prepare(exp: Experiment, study, shared: bool = False) -> list[int]:
    """Recover a dead driver's trials, seed the sampler, enqueue the first trials.
    Drivers sharing a study each seed their sampler apart (by process): with one
    seed they would suggest the same knobs."""
    st = exp.study
    recovered = recover_stale(study)
    n_existing = len(study.get_trials(deepcopy=False))
    offset = n_existing + (os.getpid() if shared else 0)
    study.sampler = O.make_sampler(st, O.sampler_seed(st.seed, offset),
                                   f"{exp.source}: study")
    if n_existing == 0 and st.sampler == "grid":
        O.enqueue_grid(st, study)
    elif n_existing == 0 and st.enqueue_default:
        _enqueue_default(exp, study)
    return recovered


def work_left(exp: Experiment, out_dir: str | Path, *, trials: int | None = None,
              storage: str | None = None, compare: bool = True) -> bool:
    """Whether running this study (as the arguments say) would evaluate anything:
    False for a finished study whose trials, per-workload studies and comparison
    are all in the run directory. Read without Ray, under the directory's lock,
    so a rerun of a finished study does not start Ray for nothing."""
    from optuna.exceptions import OptunaError

    st, out = exp.study, Path(out_dir)
    if storage is None and not (out / JOURNAL).exists():
        return True
    with _one_driver_at_a_time(out, shares_study(storage)):
        storage_obj, _, _ = O.make_storage(out, storage)  # a database's schema: one at a time

    def finished(name: str, target: int) -> dict | None:
        """The study's best trial if it has its budget, else None."""
        try:
            study = O.optuna().load_study(study_name=name, storage=storage_obj)
        except (KeyError, OptunaError):
            return None
        if budget_used(study) < target:
            return None
        best = O.best_trials(study, st)
        return best[0] if best else {}

    best = finished(exp.name, trial_target(st, trials))
    if best is None:
        return True
    if not compare or not best:
        return False
    own = {}
    if st.per_workload_trials and not st.multi:
        for w in exp.workloads:
            b = finished(own_study_name(exp, w), st.per_workload_trials)
            if b is None:
                return True
            if b:
                own[w] = b
    from harness.search.compare import Tuned, compare_evaluations, own_best_evaluations

    tuned = Tuned(run_dir=out, params=dict(best["params"]), trial=best["number"],
                  point=f"t{best['number']}", selected_by="study best")
    evals = compare_evaluations(exp, [DEFAULT_LABEL, TUNED], tuned, out)
    evals += own_best_evaluations(exp, own)
    done = stored_eval_ids(out)
    return any(ev.eval_id not in done for ev in evals)


def run_study(exp: Experiment, out_dir: str | Path, backend: Backend, *, trials: int | None = None,
              timeout_s: float | None = None, storage: str | None = None, progress: bool = True,
              command: list[str] | None = None, compare: bool = True) -> StudyReport:
    if exp.study is None:
        raise ConfigError(f"{exp.source}: study: missing; add a study: section with a space")
    st = exp.study
    out = Path(out_dir)
    target = trial_target(st, trials)
    timeout_s = timeout_s if timeout_s is not None else st.timeout_s
    t0 = time.perf_counter()
    shared = shares_study(storage)
    with RunLock.reuse(out, shared=shared):
        # Drivers sharing a study create the schema, the study and its first
        # trials one at a time (concurrent CREATEs collide).
        with _one_driver_at_a_time(out, shared):
            storage_obj, storage_desc, repaired = O.make_storage(out, storage)
            study = _open_study(exp, storage_obj,
                                O.make_pruner(st, len(exp.workloads), f"{exp.source}: study"))
            recovered = _prepare(exp, study, shared)
        manifest = start_manifest(out, mode="tune", fingerprint=exp.fingerprint("tune"),
                                  experiment=exp.describe(), command=command,
                                  extra={"backend": backend.describe(), "storage": storage_desc,
                                         "trials": target, "timeout_s": timeout_s,
                                         "shared": shared},
                                  top={"storage": storage_desc})  # where readers find the study
        store = ResultStore(out)
        bar = progress_bar(target, min(budget_used(study), target), f"tune {exp.name}",
                           progress, unit="trial")
        if repaired:
            bar.write(f"tiersweep: {storage_desc}: dropped an incomplete last record "
                      "(a killed writer)", file=sys.stderr)
        postfix = best_postfix(study, st)
        if postfix:
            bar.set_postfix_str(postfix, refresh=False)
        driver = _Driver(exp, study, store, backend, target=target, timeout_s=timeout_s,
                         bar=bar, table=progress, shared=shared)
        status = "interrupted"
        try:
            driver.run_loop()
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
        if best and compare:
            own, own_run, own_identical = _per_workload_studies(
                exp, storage_obj, store, backend, progress, driver.by_config, best[0], shared)
            comparison, regret = compare_default(exp, best[0], store, backend, progress, own)
        store.consolidate()
        summary = {"best": best, "counts": counts, "storage": storage_desc,
                   "comparison": comparison.to_dict("records"),
                   "regret": regret.to_dict("records")}
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
                       repaired_journal=repaired)
