"""A study's storage and its resumption: open (or create) the study in its
storage, seed the sampler, enqueue the first trials, and tell whether a
finished study has anything left to run. How a dead driver's trials are taken
up again: harness.search.resume; Optuna factories: harness.search._optuna.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.experiment import DEFAULT_LABEL, Experiment, StudySpec
from harness.experiment.spec import TUNED
from harness.run.store import stored_eval_ids
from harness.run.store.layout import ANOTHER_RUN_DIR, JOURNAL
from harness.run.store.lock import store_lock
from harness.search import _optuna as O
from harness.search.resume import budget_used, recover_stale

DEFAULT_TRIALS = 40


def own_study_name(exp: Experiment, workload: str) -> str:
    """The Optuna study of one workload's own knobs, in the run's storage."""
    return f"{exp.name}:{workload}"


def enqueue_default(exp: Experiment, study) -> None:
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


def open_study(exp: Experiment, storage, pruner, name: str | None = None):
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


def one_driver_at_a_time(out: Path, shared: bool):
    """The store lock when drivers share the study (a database's schema, a study
    and its first trials are created by one at a time), else nothing to wait for."""
    return store_lock(out) if shared else contextlib.nullcontext()


def prepare(exp: Experiment, study, shared: bool = False) -> list[int]:
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
        enqueue_default(exp, study)
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
    with one_driver_at_a_time(out, shares_study(storage)):
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
    import json

    from harness.run.store.layout import SUMMARY
    from harness.search.compare import Tuned, compare_evaluations, own_best_evaluations

    try:
        choice = json.loads((out / SUMMARY).read_text()).get("choice") or {}
    except (OSError, ValueError):
        return True
    rec = choice.get("recommendation")
    if not rec:
        return True
    tuned = Tuned(run_dir=out, params=dict(rec["params"]), trial=rec.get("trial"),
                  point=str(rec.get("point")), selected_by=str(choice.get("selected_by")))
    evals = compare_evaluations(exp, [DEFAULT_LABEL, TUNED], tuned, out)
    evals += own_best_evaluations(exp, own)
    done = stored_eval_ids(out)
    return any(ev.eval_id not in done for ev in evals)
