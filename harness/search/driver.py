"""Asking and telling: the driver that turns Optuna trials into evaluations
and their results back into told trials. When trials start (the schedule) is
harness.search.schedule; rows reach the store before Optuna hears of a trial.

With the suite's reference runs (``refs``) every row gets the derived,
per-workload normalized metrics (harness.analysis.normalize) before it is
aggregated, and the study's guards are set as Optuna constraints
(``trial.set_constraint``) before the trial is told: an infeasible trial is
kept, complete, and marked (its constraint values > 0), and samplers and
``study.best_trial`` rank it behind every feasible one.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from harness.analysis.normalize import References, constraint_values, feasible
from harness.errors import ConfigError
from harness.experiment import Experiment
from harness.run.backends import Backend
from harness.run.runner import config_key
from harness.run.scheduler import Scheduler
from harness.run.store import ResultStore
from harness.run.worker import Evaluation, make_row
from harness.search import fidelity
from harness.search.aggregate import aggregate, per_workload
from harness.search.resume import (
    DRIVER_ATTR,
    budget_taken,
    budget_used,
    driver_id,
    recover_stale,
    root_of,
)
from harness.search.study_report import TrialTable, best_postfix
from harness.search.trial import TrialRun, suite_values, trial_evaluations

# Per-workload means recorded on every complete trial (user attr "per_workload").
RECORDED = ("hit_rate", "cpu_percent", "objective", "gain_share", "cost_rel",
            "norm_objective", "hit_loss_points")


class Driver:
    """Starts trials (ask), feeds results in, prunes, tells Optuna. `defer`: keep
    finished trials until ``tell_pending`` tells them in trial-number order."""

    def __init__(self, exp: Experiment, study, store: ResultStore, backend: Backend, *,
                 target: int, timeout_s: float | None, bar, mode: str = "tune",
                 by_config: dict[str, dict] | None = None, table: bool = False,
                 shared: bool = False, refs: References | None = None,
                 rung_refs: dict[int, References] | None = None):
        from optuna.pruners import NopPruner

        self.exp, self.st, self.study, self.store = exp, exp.study, study, store
        self.mode = mode
        self.shared = shared  # other drivers work on the same study (database storage)
        self.table = TrialTable(bar, study, exp.study) if table else None
        self.workloads = exp.workloads
        self.n_seeds = len(exp.seeds)
        self.target = target
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.bar = bar
        self.refs = refs
        self.sched = Scheduler(backend)
        self.active: dict[int, TrialRun] = {}
        self.defer = exp.study.schedule == "generations"
        self.pending: dict[int, tuple] = {}  # finished, not yet told (generations)
        self.told: list[int] = []            # trial numbers in the order told
        self.used = budget_used(study)
        self.run = 0     # evaluations run now
        self.reused = 0  # evaluations found in the store (a dead predecessor's)
        self.identical = 0  # evaluations whose knobs an earlier trial of this run ran
        # resolved config -> its row, this invocation (shared with the per-workload studies)
        self.by_config: dict[str, dict] = {} if by_config is None else by_config
        self._keys: dict[str, str] = {}  # eval_id -> its config key, while in flight
        # Pruning decides on the reports that arrived first: with generations the
        # answer would follow completion order, so generations do not prune.
        self.prune = (not self.st.multi and not self.defer
                      and not isinstance(study.pruner, NopPruner))
        # Multi-fidelity (the shared study only): the rungs' seconds, the trials
        # whose rung finished (reported in trial-number order by advance), and
        # the references at each lower rung's duration.
        self.steps = (fidelity.steps(exp) if exp.study.fidelity is not None and mode == "tune"
                      else None)
        self.waiting: dict[int, TrialRun] = {}
        self.rung_refs = rung_refs or {}
        self.rung_evals = [0] * len(self.steps or ())  # evaluations run per rung, now
        # Knobs that decide whether a conditional parameter is active.
        self.defaults = exp.default_values([k for p in self.st.space for k, _ in p.when])

    # ------------------------------------------------------------- budget
    def room(self) -> bool:
        """Budget left for one more trial. Alone, the count kept here; sharing the
        study with other drivers (a database storage), every driver's trials in it."""
        mine = len(self.active) + len(self.pending) + len(self.waiting)
        if not self.shared:
            return self.used + mine < self.target
        taken = budget_taken(self.study.get_trials(deepcopy=False),
                             exclude=set(self.active) | set(self.pending) | set(self.waiting))
        return taken + mine < self.target

    def time_left(self) -> bool:
        return self.deadline is None or time.monotonic() < self.deadline

    def abandon(self) -> None:
        """Interrupted or crashed: keep what finished, hand the trials in flight to
        the next run exactly as a dead driver would."""
        import contextlib

        self.sched.cancel_all()
        self.store.flush()
        with contextlib.suppress(Exception):  # the next run recovers them anyway
            self.tell_pending()
        with contextlib.suppress(Exception):
            recover_stale(self.study)

    # ------------------------------------------------------------- asking
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
        tr = TrialRun(trial, trial.number, root, label, params, evals, full=evals)
        if self.steps is not None:
            tr.evals = fidelity.at_rung(evals, 0, self.steps)
        self._schedule(tr)

    def _schedule(self, tr: TrialRun) -> None:
        """Run the trial's (rung's) evaluations, reusing rows already there."""
        trial, label = tr.trial, tr.label
        todo = []
        for ev in tr.evals:
            row = self.store.get(ev.eval_id)
            same = None
            if row is None:
                key = self._keys[ev.eval_id] = config_key(ev)
                same = self.by_config.get(key)
            if same is not None:  # an earlier trial ran these very knobs: reuse its result
                row = {**same, "eval_id": ev.eval_id, "mode": ev.mode, "trial": trial.number,
                       "label": label}
                self.store.add(row)
                self._add(tr, ev, row)
                self.identical += 1
                continue
            if row is None:
                todo.append(ev)
                continue
            # Finished by a predecessor of this trial (same root): reuse it.
            if row.get("trial") != trial.number:
                row = {**row, "trial": trial.number, "label": label}
                self.store.add(row)
            self._add(tr, ev, row)
            self.reused += 1
        self.active[trial.number] = tr
        if tr.complete:
            self.rung_done(tr)
        else:
            self.sched.add(todo)

    def _add(self, tr: TrialRun, ev: Evaluation, row: dict) -> None:
        """A row into its trial, with the normalized metrics when the study has
        references (a lower rung's: those at its duration)."""
        refs = self.refs
        if self.steps is not None and tr.rung < len(self.steps) - 1:
            refs = self.rung_refs.get(self.steps[tr.rung], refs)
        tr.add(ev, refs.derive(row) if refs is not None else row)

    def rung_done(self, tr: TrialRun) -> None:
        """A trial's evaluations are all in: complete it, or (multi-fidelity) wait
        for the generation's rung to end (advance)."""
        if self.steps is None:
            self.complete(tr)
            return
        self.active.pop(tr.number, None)
        self.waiting[tr.number] = tr

    def advance(self) -> None:
        """Report each waiting trial's rung value, in trial-number order, and let
        the pruner decide: pruned, complete (the top rung), or the next rung."""
        from optuna.trial import TrialState

        for n in sorted(self.waiting):
            tr = self.waiting.pop(n)
            values = self._suite_values(tr)
            value = values[0]  # a multi-fidelity study has one objective
            if math.isfinite(value):
                tr.trial.report(value, self.steps[tr.rung])
            if tr.rung == len(self.steps) - 1:
                self.finish(tr, TrialState.COMPLETE, values)
            elif not math.isfinite(value) or tr.trial.should_prune():
                self.finish(tr, TrialState.PRUNED)
            else:
                tr.rung += 1
                tr.evals, tr.rows = fidelity.at_rung(tr.full, tr.rung, self.steps), {}
                self._schedule(tr)

    # ------------------------------------------------------------- results
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
        self._add(tr, ev, row)
        self.by_config[self._keys.pop(ev.eval_id, None) or config_key(ev)] = row
        self.run += 1
        if self.steps is not None:
            self.rung_evals[tr.rung] += 1
        if self.prune and self.maybe_prune(tr):
            return
        if tr.complete:
            self.rung_done(tr)

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

    def _suite_values(self, tr: TrialRun) -> list[float]:
        """The trial's suite value per objective, from the rows of its evaluations."""
        per_wl = {o.metric: tr.values(o.metric, self.workloads) for o in self.st.objectives}
        return suite_values(self.exp, per_wl)

    def complete(self, tr: TrialRun) -> None:
        from optuna.trial import TrialState

        self.finish(tr, TrialState.COMPLETE, self._suite_values(tr))

    # ------------------------------------------------------------- telling
    def finish(self, tr: TrialRun, state, values=None, error: str | None = None) -> None:
        self.store.flush()  # rows durable before Optuna hears of the trial
        self.active.pop(tr.number, None)
        if self.defer:
            self.pending[tr.number] = (tr, state, values, error)
        else:
            self._tell(tr, state, values, error)

    def tell_pending(self) -> None:
        """Tell the finished trials in trial-number order (not completion order)."""
        for n in sorted(self.pending):
            self._tell(*self.pending.pop(n))

    def _tell(self, tr: TrialRun, state, values, error: str | None) -> None:
        from optuna.trial import TrialState

        ok = True
        if error:
            tr.trial.set_user_attr("error", error[:500])
        if state == TrialState.COMPLETE:
            metrics = [m for m in dict.fromkeys([*RECORDED, *(o.metric for o in
                                                              self.st.objectives)])
                       if m in next(iter(tr.rows.values()), {})]
            per = {m: per_workload(tr.values(m, self.workloads)) for m in metrics}
            tr.trial.set_user_attr("per_workload", per)
            if self.st.constraints and self.refs is not None:
                by_w = {w: {m: per[m][w] for m in per} for w in self.workloads}
                cons = constraint_values(by_w, self.st.bounds)
                for k, v in cons.items():
                    tr.trial.set_constraint(k, v)
                ok = feasible(cons)
            ft = self.study.tell(tr.trial, values if self.st.multi else values[0])
            if ft.state != TrialState.COMPLETE:
                self.bar.write(f"tiersweep: trial {tr.number}: objective is not a number "
                               f"({values}); marked failed", file=sys.stderr)
        else:
            self.study.tell(tr.trial, state=state)
        self.told.append(tr.number)
        self.used += 1
        if self.table is not None:
            self.table.row(tr.number, state, values, tr.params, ok)
        self.bar.update(1)
        text = best_postfix(self.study, self.st)
        if text:
            self.bar.set_postfix_str(text)
