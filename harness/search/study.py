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
run directory (or any storage URL given). Optuna's journal storage has no
heartbeat, so on start the driver treats every RUNNING trial as left by a
dead driver (one driver per study; the run directory is locked): it enqueues
the trial's parameters again (user attrs ``retry_of`` and ``root_trial``)
and marks the trial FAIL. Evaluation ids derive from the *root* trial number,
so the retry finds the evaluations its predecessor finished in
trials.parquet and reuses them instead of running them again (their rows are
re-attributed to the retry; nothing is counted twice). ``--trials N`` counts
finished trials (complete, pruned, or failed for a reason other than a dead
driver) over the whole study, so a rerun only makes up the difference.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import atomic
from harness.errors import ConfigError, TiersweepError
from harness.experiment import DEFAULT_LABEL, Experiment, StudySpec
from harness.run.backends import Backend
from harness.run.progress import progress_bar
from harness.run.runner import run_evaluations
from harness.run.scheduler import Scheduler
from harness.run.store import (
    ResultStore,
    RunLock,
    finish_manifest,
    jsonable,
    start_manifest,
    write_manifest,
    write_parquet,
)
from harness.run.worker import Evaluation, eval_id, make_row
from harness.search.aggregate import aggregate, per_workload

JOURNAL = "study.journal"


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# ------------------------------------------------------------ construction


def make_storage(out_dir: Path, storage: str | None) -> tuple[Any, str]:
    """Journal file in the run directory by default; an Optuna URL; or a journal path."""
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if storage is None or "://" not in storage:
        path = Path(storage) if storage else out_dir / JOURNAL
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_journal(path)
        if storage is None:
            # The run directory is locked by this process, so a journal lock
            # file here was left by a killed driver: remove it now instead of
            # waiting for Optuna's 30 s grace period.
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}.lock").unlink()
        return JournalStorage(JournalFileBackend(str(path))), str(path)
    try:
        return optuna.storages.get_storage(storage), storage
    except (ImportError, ModuleNotFoundError) as exc:
        raise TiersweepError(f"--storage {storage}: a driver is missing ({exc}); e.g. "
                             "pip install psycopg2-binary for PostgreSQL") from None
    except Exception as exc:  # noqa: BLE001 - bad URL, unreachable server
        raise TiersweepError(f"--storage {storage}: {type(exc).__name__}: {exc}") from None


def repair_journal(path: Path) -> bool:
    """Drop a torn last record (a driver killed in the middle of a write).

    Optuna skips an unterminated last line when reading, but the next append
    would glue a complete record onto it and make the journal unreadable.
    The record was never complete, so dropping it loses nothing that Optuna
    had acknowledged. Called with the run directory locked."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)
    print(f"tiersweep: {path}: dropped an incomplete last record (a killed writer)",
          file=sys.stderr)
    return True


def sampler_seed(seed: int, n_existing: int) -> int:
    """A resumed study re-creates its sampler: seed it by the trials already
    there, so that e.g. a random sampler does not replay its first draws."""
    return int(np.random.SeedSequence([seed, n_existing]).generate_state(1)[0])


def make_sampler(st: StudySpec, seed: int, where: str):
    optuna = _optuna()
    kind = st.sampler
    if kind == "auto":
        kind = "nsga2" if st.multi else "tpe"
    opts = dict(st.sampler_options)
    try:
        if kind == "tpe":
            kw = dict(seed=seed, multivariate=True, group=any(p.when for p in st.space),
                      constant_liar=True)
            kw.update(opts)
            return optuna.samplers.TPESampler(**kw)
        if kind == "nsga2":
            kw = dict(seed=seed, population_size=20)
            kw.update(opts)
            return optuna.samplers.NSGAIISampler(**kw)
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=seed, **opts)
        if kind == "grid":
            # The grid points are enqueued as trials (see _enqueue_grid): Optuna's
            # GridSampler calls study.stop() when the grid is exhausted, which is
            # an error outside study.optimize (this driver uses ask-and-tell).
            return optuna.samplers.RandomSampler(seed=seed, **opts)
        if kind == "gp":
            try:
                import scipy  # noqa: F401
                import torch  # noqa: F401
            except ImportError:
                raise TiersweepError("sampler gp needs PyTorch and SciPy: pip install torch "
                                     "scipy (or use sampler: tpe)") from None
            kw = dict(seed=seed)
            kw.update(opts)
            return optuna.samplers.GPSampler(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}.sampler_options: {exc}") from None
    raise AssertionError(kind)  # pragma: no cover


def make_pruner(st: StudySpec, n_workloads: int, where: str):
    optuna = _optuna()
    kind = st.pruner.kind
    opts = dict(st.pruner.options)
    if kind == "auto":
        kind = "median" if (not st.multi and n_workloads > 1) else "none"
        opts = {"n_startup_trials": 5, "n_warmup_steps": 1, **opts}
    try:
        if kind == "none" or n_workloads < 2:
            return optuna.pruners.NopPruner()
        if kind == "median":
            return optuna.pruners.MedianPruner(**opts)
        if kind == "percentile":
            opts.setdefault("percentile", 25.0)
            return optuna.pruners.PercentilePruner(**opts)
        if kind == "successive_halving":
            opts.setdefault("min_resource", 1)
            return optuna.pruners.SuccessiveHalvingPruner(**opts)
        if kind == "hyperband":
            opts.setdefault("min_resource", 1)
            opts.setdefault("max_resource", n_workloads)
            return optuna.pruners.HyperbandPruner(**opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.pruner: {exc}") from None
    raise AssertionError(kind)  # pragma: no cover


# ----------------------------------------------------------------- resume


def recover_stale(study) -> list[int]:
    """Fail trials left RUNNING by a dead driver and enqueue their parameters again."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials if "retry_of" in t.user_attrs}
    stale = [t for t in trials if t.state == TrialState.RUNNING]
    for t in stale:
        if t.number not in retried:  # a crash between enqueue and tell: enqueue once
            attrs = {"retry_of": t.number, "root_trial": t.user_attrs.get("root_trial", t.number)}
            if "label" in t.user_attrs:
                attrs["label"] = t.user_attrs["label"]
            study.enqueue_trial(dict(t.params), user_attrs=attrs)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    return [t.number for t in stale]


def budget_used(study) -> int:
    """Finished trials that count against --trials (a dead driver's are retried instead)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials if "retry_of" in t.user_attrs}
    return sum(1 for t in trials if t.state.is_finished()
               and not (t.state == TrialState.FAIL and t.number in retried))


# ----------------------------------------------------------------- driver


@dataclass
class TrialRun:
    trial: Any
    number: int
    root: int
    label: str
    params: dict
    evals: list[Evaluation]
    rows: dict[str, dict] = field(default_factory=dict)
    reported: int = 0

    def add(self, ev: Evaluation, row: dict) -> None:
        self.rows[ev.eval_id] = row

    @property
    def complete(self) -> bool:
        return len(self.rows) == len(self.evals)

    def values(self, metric: str, workloads: list[str]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {w: [] for w in workloads}
        for ev in self.evals:
            row = self.rows.get(ev.eval_id)
            if row is not None and ev.workload in out:
                out[ev.workload].append(float(row.get(metric, float("nan"))))
        return out

    def workload_done(self, w: str, n_seeds: int) -> bool:
        return sum(1 for ev in self.evals if ev.workload == w and ev.eval_id in self.rows) \
            == n_seeds


def trial_evaluations(exp: Experiment, number: int, root: int, label: str,
                      params: dict, seeds=None) -> list[Evaluation]:
    evals = []
    for w in exp.workloads:
        for s in seeds or exp.seeds:
            evals.append(Evaluation(
                eval_id=eval_id(exp.name, "tune", f"t{root:05d}", w, s),
                cfg=exp.run_config(w, s, params), run=exp.name, mode="tune", trial=number,
                label=label, workload=w, seed=s, params=dict(params), group=number))
    return evals


def suite_values(exp: Experiment, per_wl: dict[str, dict[str, list[float]]]) -> list[float]:
    st = exp.study
    return [aggregate([per_workload(per_wl[o.metric])[w] for w in exp.workloads], o.aggregate,
                      o.direction, st.gmean_shift) for o in st.objectives]


@dataclass
class StudyReport:
    out_dir: Path
    storage: str
    counts: dict[str, int]
    wall_s: float
    best: list[dict]          # best trial(s): number, values, params
    comparison: pd.DataFrame  # per objective x workload: default vs tuned
    text: str                 # the printed summary
    recovered: list[int]
    evaluations_run: int
    evaluations_reused: int


def run_study(exp: Experiment, out_dir: str | Path, backend: Backend, *, trials: int | None = None,
              timeout_s: float | None = None, storage: str | None = None, progress: bool = True,
              command: list[str] | None = None, compare: bool = True) -> StudyReport:
    if exp.study is None:
        raise ConfigError(f"{exp.source}: study: missing; add a study: section with a space")
    optuna = _optuna()
    from optuna.trial import TrialState

    st = exp.study
    out = Path(out_dir)
    where = f"{exp.source}: study"
    target = trials or st.trials or 40
    if st.sampler == "grid":  # every grid point once
        size = math.prod(len(p.grid_values()) for p in st.space)
        target = min(trials or st.trials or size, size)
    timeout_s = timeout_s if timeout_s is not None else st.timeout_s
    workloads = exp.workloads
    n_seeds = len(exp.seeds)
    t0 = time.perf_counter()
    with RunLock(out):
        store_obj, storage_desc = make_storage(out, storage)
        manifest = start_manifest(out, mode="tune", fingerprint=exp.fingerprint("tune"),
                                  experiment=exp.describe(), command=command,
                                  extra={"backend": backend.describe(), "storage": storage_desc,
                                         "trials": target, "timeout_s": timeout_s})
        manifest["storage"] = storage_desc  # where readers find the study
        write_manifest(out, manifest)
        status = "interrupted"
        store = ResultStore(out)
        pruner = make_pruner(st, len(workloads), where)
        directions = st.directions
        study = optuna.create_study(study_name=exp.name, storage=store_obj,
                                    directions=directions, pruner=pruner, load_if_exists=True)
        if list(d.name.lower() for d in study.directions) != directions:
            raise ConfigError(f"{where}.objectives: the stored study {exp.name} has directions "
                              f"{[d.name.lower() for d in study.directions]}; use --out DIR")
        recovered = recover_stale(study)
        n_existing = len(study.get_trials(deepcopy=False))
        study.sampler = make_sampler(st, sampler_seed(st.seed, n_existing), where)
        if n_existing == 0 and st.sampler == "grid":
            _enqueue_grid(st, study)
        elif n_existing == 0 and st.enqueue_default:
            _enqueue_default(exp, study)
        used = budget_used(study)
        defaults = exp.default_values([k for p in st.space for k, _ in p.when])
        sched = Scheduler(backend)
        active: dict[int, TrialRun] = {}
        counts = {"run": 0, "reused": 0}
        multi = st.multi
        prune = not multi and not isinstance(pruner, optuna.pruners.NopPruner)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        bar = progress_bar(target, min(used, target), f"tune {exp.name}", progress, unit="trial")
        best_text = _best_text(study, st)
        if best_text:
            bar.set_postfix_str(best_text, refresh=False)

        def finish(tr: TrialRun, state, values=None, error: str | None = None) -> None:
            nonlocal used
            store.flush()  # rows durable before Optuna hears of the trial
            active.pop(tr.number, None)
            if error:
                tr.trial.set_user_attr("error", error[:500])
            if state == TrialState.COMPLETE:
                per = {o.metric: per_workload(tr.values(o.metric, workloads))
                       for o in st.objectives}
                tr.trial.set_user_attr("per_workload", per)
                ft = study.tell(tr.trial, values if multi else values[0])
                if ft.state != TrialState.COMPLETE:
                    bar.write(f"tiersweep: trial {tr.number}: objective is not a number "
                              f"({values}); marked failed", file=sys.stderr)
            else:
                study.tell(tr.trial, state=state)
            used += 1
            bar.update(1)
            text = _best_text(study, st)
            if text:
                bar.set_postfix_str(text)

        def start_trial() -> None:
            trial = study.ask()
            root = int(trial.user_attrs.get("root_trial", trial.number))
            label = str(trial.user_attrs.get("label", f"t{trial.number}"))
            trial.set_user_attr("root_trial", root)
            params: dict[str, Any] = {}
            for p in st.space:
                if p.active({**defaults, **params}):
                    params[p.key] = p.suggest(trial)
            try:
                evals = trial_evaluations(exp, trial.number, root, label, params)
            except ConfigError as exc:
                tr = TrialRun(trial, trial.number, root, label, params, [])
                bar.write(f"tiersweep: trial {trial.number}: infeasible knobs: {exc}",
                          file=sys.stderr)
                finish(tr, TrialState.FAIL, error=f"infeasible: {exc}")
                return
            tr = TrialRun(trial, trial.number, root, label, params, evals)
            todo = []
            for ev in evals:
                row = store.get(ev.eval_id)
                if row is None:
                    todo.append(ev)
                    continue
                # Finished by a predecessor of this trial (same root): reuse it.
                if row.get("trial") != trial.number:
                    row = {**row, "trial": trial.number, "label": label}
                    store.add(row)
                tr.add(ev, row)
                counts["reused"] += 1
            active[trial.number] = tr
            if tr.complete:
                complete(tr)
            else:
                sched.add(todo)

        def complete(tr: TrialRun) -> None:
            per_wl = {o.metric: tr.values(o.metric, workloads) for o in st.objectives}
            finish(tr, TrialState.COMPLETE, suite_values(exp, per_wl))

        def maybe_prune(tr: TrialRun) -> bool:
            o = st.objectives[0]
            while tr.reported < len(workloads) and tr.workload_done(workloads[tr.reported],
                                                                    n_seeds):
                step = tr.reported
                prefix = workloads[:step + 1]
                means = per_workload(tr.values(o.metric, prefix))
                value = aggregate([means[w] for w in prefix], o.aggregate, o.direction,
                                  st.gmean_shift)
                tr.reported += 1
                if math.isnan(value):
                    continue
                tr.trial.report(value, step)
                if step < len(workloads) - 1 and tr.trial.should_prune():
                    sched.cancel_group(tr.number)
                    finish(tr, TrialState.PRUNED)
                    return True
            return False

        try:
            while True:
                while (used + len(active) < target and sched.wants_work()
                       and (deadline is None or time.monotonic() < deadline)):
                    start_trial()
                if not active:
                    break
                for ev, res in sched.step(timeout=0.5):
                    tr = active.get(ev.group)
                    if tr is None:
                        continue  # a pruned or failed trial's straggler
                    if not res.get("ok"):
                        sched.cancel_group(tr.number)
                        bar.write(f"tiersweep: trial {tr.number}: evaluation {ev.eval_id} "
                                  f"failed: {res.get('error')}", file=sys.stderr)
                        finish(tr, TrialState.FAIL, error=str(res.get("error")))
                        continue
                    row, ts = make_row(ev, res)
                    store.add(row, ts)
                    tr.add(ev, row)
                    counts["run"] += 1
                    if prune and maybe_prune(tr):
                        continue
                    if tr.complete:
                        complete(tr)
                store.maybe_flush()
            status = "done"
        except BaseException:
            # Interrupted (Ctrl-C) or crashed: keep what finished, hand the
            # trials in flight to the next run exactly as a dead driver would.
            sched.cancel_all()
            store.flush()
            with contextlib.suppress(Exception):  # the next run recovers them anyway
                recover_stale(study)
            raise
        finally:
            bar.close()
            store.flush()
            store.consolidate()
            _write_study_table(study, out)
            if status != "done":
                finish_manifest(out, manifest, status)

        counts_state = _state_counts(study)
        best = _best(study, st)
        comparison = pd.DataFrame()
        text_parts = [_header(exp, study, counts_state, storage_desc, time.perf_counter() - t0,
                              recovered, counts)]
        if best and compare:
            comparison, ctext = compare_default(exp, best[0], store, backend, progress)
            text_parts.append(ctext)
            text_parts.append(_front_text(exp, best) if multi else "")
        text_parts.append(_importance_text(study, st))
        text_parts.append(f"results: {out / 'trials.parquet'} ({len(store)} rows), "
                          f"{out / 'timeseries.parquet'}, {out / 'manifest.json'}\n"
                          f"dashboard: optuna-dashboard {storage_desc}")
        store.consolidate()
        text = "\n".join(t for t in text_parts if t)
        summary = {"best": best, "counts": counts_state, "storage": storage_desc,
                   "comparison": comparison.to_dict("records")}
        atomic.write_text(out / "summary.json", json.dumps(jsonable(summary), indent=2) + "\n",
                          sync=True)
        finish_manifest(out, manifest, "done", counts=counts_state,
                        best=best[0] if best else None)
    return StudyReport(out_dir=out, storage=storage_desc, counts=counts_state,
                       wall_s=time.perf_counter() - t0, best=best, comparison=comparison,
                       text=text, recovered=recovered, evaluations_run=counts["run"],
                       evaluations_reused=counts["reused"])


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
    study.enqueue_trial(params, user_attrs={"label": DEFAULT_LABEL})


def _enqueue_grid(st: StudySpec, study) -> None:
    """Every grid point as an enqueued trial, in declaration order."""
    import itertools

    keys = [p.key for p in st.space]
    for combo in itertools.product(*[p.grid_values() for p in st.space]):
        study.enqueue_trial(dict(zip(keys, combo, strict=True)))


def _state_counts(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name.lower()] = out.get(t.state.name.lower(), 0) + 1
    return out


def _best(study, st: StudySpec) -> list[dict]:
    from optuna.trial import TrialState

    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    trials = study.best_trials if st.multi else [study.best_trial]
    if st.multi:
        # The front member best on the first objective is "the" tuned point.
        sign = 1 if st.objectives[0].direction == "maximize" else -1
        trials = sorted(trials, key=lambda t: -sign * t.values[0])
    return [{"number": t.number, "values": list(t.values), "params": dict(t.params),
             "per_workload": t.user_attrs.get("per_workload", {})} for t in trials]


def _best_text(study, st: StudySpec) -> str:
    try:
        b = _best(study, st)
    except Exception:  # noqa: BLE001 - e.g. no complete trial yet
        return ""
    if not b:
        return ""
    if st.multi:
        return f"pareto {len(b)}"
    return f"best {b[0]['values'][0]:.4g} (t{b[0]['number']})"


def _header(exp, study, counts, storage, wall, recovered, evals) -> str:
    st = exp.study
    lines = [f"study {exp.name}: {sum(counts.values())} trials "
             f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}) in {wall:.1f} s; "
             f"{evals['run']} evaluations run, {evals['reused']} reused"]
    if recovered:
        lines.append(f"  resumed: trials {recovered} were left running by a dead driver; "
                     "marked failed and retried")
    objs = ", ".join(f"{o.metric} ({o.direction}, {o.aggregate} over {len(exp.workloads)} "
                     f"workloads x {len(exp.seeds)} seeds)" for o in st.objectives)
    lines.append(f"  objective: {objs}")
    return "\n".join(lines)


def compare_default(exp: Experiment, best: dict, store: ResultStore, backend: Backend,
                    progress: bool) -> tuple[pd.DataFrame, str]:
    """Evaluate the RFC defaults and the tuned knobs on the suite (+ holdout seeds)."""
    st = exp.study
    seeds = list(exp.seeds) + [s for s in exp.holdout_seeds if s not in exp.seeds]
    evals = []
    for label, key, trial, params in ((DEFAULT_LABEL, "default", -1, {}),
                                      ("tuned", f"tuned-t{best['number']:05d}", best["number"],
                                       best["params"])):
        for w in exp.workloads:
            for s in seeds:
                evals.append(Evaluation(eval_id=eval_id(exp.name, "compare", key, w, s),
                                        cfg=exp.run_config(w, s, params), run=exp.name,
                                        mode="compare", trial=trial, label=label, workload=w,
                                        seed=s, params=dict(params)))
    outcome = run_evaluations(evals, store, backend, run=exp.name, mode="compare",
                              progress=progress, desc="compare")
    if outcome.errors:
        raise TiersweepError(f"comparison evaluations failed: {outcome.errors[0][1]}")
    t = outcome.table
    rows = []
    groups = [("study seeds", list(exp.seeds))]
    if exp.holdout_seeds:
        groups.append(("holdout seeds", list(exp.holdout_seeds)))
    for o in st.objectives:
        for gname, gseeds in groups:
            sub = t[t["seed"].isin(gseeds)]
            per = {}
            for label in (DEFAULT_LABEL, "tuned"):
                s2 = sub[sub["label"] == label]
                per[label] = {w: float(s2[s2["workload"] == w][o.metric].mean())
                              for w in exp.workloads}
            for w in exp.workloads:
                rows.append({"objective": o.metric, "seeds": gname, "workload": w,
                             DEFAULT_LABEL: per[DEFAULT_LABEL][w], "tuned": per["tuned"][w]})
            rows.append({"objective": o.metric, "seeds": gname, "workload": f"[{o.aggregate}]",
                         DEFAULT_LABEL: aggregate(per[DEFAULT_LABEL].values(), o.aggregate,
                                                  o.direction, st.gmean_shift),
                         "tuned": aggregate(per["tuned"].values(), o.aggregate, o.direction,
                                            st.gmean_shift)})
    df = pd.DataFrame(rows)
    return df, _comparison_text(exp, best, df)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _comparison_text(exp: Experiment, best: dict, df: pd.DataFrame) -> str:
    st = exp.study
    defaults = exp.default_values(list(best["params"]))
    lines = [f"tuned (trial {best['number']}) vs {DEFAULT_LABEL} knobs:"]
    for k, v in best["params"].items():
        lines.append(f"  {k:<36} {_fmt(v):>12}   ({DEFAULT_LABEL}: {_fmt(defaults.get(k))})")
    for o in st.objectives:
        for gname, g in df[df["objective"] == o.metric].groupby("seeds", sort=False):
            seeds = exp.seeds if gname == "study seeds" else exp.holdout_seeds
            lines.append(f"{o.metric} ({o.direction}), mean over {gname} {list(seeds)}:")
            lines.append(f"  {'workload':<16} {DEFAULT_LABEL:>12} {'tuned':>12} {'change':>12}")
            for r in g.to_dict("records"):
                d, tv = r[DEFAULT_LABEL], r["tuned"]
                diff = tv - d
                rel = f" ({diff / abs(d):+.1%})" if abs(d) > 1e-12 else ""
                better = (diff > 0) if o.direction == "maximize" else (diff < 0)
                mark = "  better" if better else ("  same" if diff == 0 else "  worse")
                lines.append(f"  {r['workload']:<16} {d:>12.5g} {tv:>12.5g} {diff:>+12.4g}"
                             f"{rel}{mark}")
    return "\n".join(lines)


def _front_text(exp: Experiment, best: list[dict]) -> str:
    st = exp.study
    names = [o.metric for o in st.objectives]
    lines = [f"pareto front ({len(best)} trials): " + " | ".join(
        f"{n} ({o.direction})" for n, o in zip(names, st.objectives, strict=True))]
    for b in best[:15]:
        vals = "  ".join(f"{v:.5g}" for v in b["values"])
        knobs = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in b["params"].items())
        lines.append(f"  t{b['number']:<5} {vals}   {knobs}")
    if len(best) > 15:
        lines.append(f"  ... {len(best) - 15} more in study_trials.parquet")
    return "\n".join(lines)


def _importance_text(study, st: StudySpec) -> str:
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(st.space) < 2 or len(done) < 8:
        return ""
    optuna = _optuna()
    lines = []
    for i, o in enumerate(st.objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(
                    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                    # With a target PED-ANOVA ranks for low values: negate maximized ones.
                    target=(lambda t, i=i, sg=(-1 if o.direction == "maximize" else 1):
                            sg * t.values[i]) if st.multi else None)
        except Exception:  # noqa: BLE001 - too few distinct trials, missing extras
            continue
        parts = ", ".join(f"{k} {v:.2f}" for k, v in list(imp.items())[:6])
        lines.append(f"parameter importance for {o.metric} (PED-ANOVA): {parts}")
    return "\n".join(lines)


def _write_study_table(study, out: Path) -> None:
    try:
        df = study.trials_dataframe(multi_index=False)
    except Exception:  # noqa: BLE001 - empty study
        return
    if df.empty:
        return
    for c in df.columns:
        if df[c].dtype == object and df[c].map(lambda v: isinstance(v, dict | list)).any():
            df[c] = df[c].map(lambda v: None if v is None else str(v))
    if "state" in df:
        df["state"] = df["state"].astype(str)
    write_parquet(df, out / "study_trials.parquet")
