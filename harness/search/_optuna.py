"""Optuna glue: storage, sampler and pruner from the study spec; results read back.

Errors name the value or the config field (``storage <url>: ...``,
``<file>: study.pruner: ...``); the command layer adds its flag names.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError, InputError
from harness.experiment import StudySpec
from harness.run.store import write_parquet
from harness.run.store.layout import ANOTHER_RUN_DIR, JOURNAL
from harness.search.resume import remove_stale_journal_lock, repair_journal


def optuna():
    import optuna

    return optuna


def quiet() -> None:
    """Optuna's log level and experimental warnings for a study this process runs
    (called where a study runs, not at import: importing the harness leaves a
    caller's Optuna settings alone)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# ------------------------------------------------------------ construction


def make_storage(out_dir: Path, storage: str | None) -> tuple[Any, str, bool]:
    """(storage, where it is, whether a torn journal record was dropped).

    A journal file in the run directory by default; an Optuna URL; or a journal
    path. Called with the run directory locked."""
    opt = optuna()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if storage is None or "://" not in storage:
        path = Path(storage) if storage else out_dir / JOURNAL
        path.parent.mkdir(parents=True, exist_ok=True)
        check_journal(path)  # before repairing: a file that is no journal is left alone
        repaired = repair_journal(path)
        if storage is None:
            remove_stale_journal_lock(path)
        try:
            return JournalStorage(JournalFileBackend(str(path))), str(path), repaired
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable Optuna journal ({type(exc).__name__}: "
                             f"{exc}); move it away, or {ANOTHER_RUN_DIR}") from None
    try:
        return opt.storages.get_storage(storage), storage, False
    except (ImportError, ModuleNotFoundError) as exc:
        raise InputError(f"storage {storage}: a driver is missing ({exc}); e.g. "
                             "pip install tiersweep[postgres] for PostgreSQL") from None
    except Exception as exc:  # noqa: BLE001 - bad URL, unreachable server
        raise InputError(f"storage {storage}: {type(exc).__name__}: {exc}") from None


def check_journal(path: Path) -> None:
    """A journal's first record is a JSON object on a line of UTF-8."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an Optuna journal file")
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except FileNotFoundError:
        return
    if not first:
        return
    try:
        ok = isinstance(json.loads(first.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"{path}: not an Optuna journal (its first line is not a JSON "
                         f"record); move it away, or {ANOTHER_RUN_DIR}")


def sampler_seed(seed: int, n_existing: int) -> int:
    """A resumed study re-creates its sampler: seed it by the trials already
    there, so that e.g. a random sampler does not replay its first draws."""
    return int(np.random.SeedSequence([seed, n_existing]).generate_state(1)[0])


def check_options(cls: type, opts: dict, where: str) -> None:
    """Options against the class's signature before anything runs: known
    names, and a number, bool or string where the default is one (Optuna
    takes `n_startup_trials: 'x'` and fails at the first sample)."""
    params = inspect.signature(cls).parameters
    for k, v in opts.items():
        if k not in params:
            names = ", ".join(n for n in params if n not in ("self", "kwargs"))
            raise ConfigError(f"{where}.{k}: unknown option of {cls.__name__}; "
                              f"expected one of {names}")
        d = params[k].default
        if isinstance(d, bool):
            ok = isinstance(v, bool)
        elif isinstance(d, int | float):
            ok = (isinstance(v, int | float) and not isinstance(v, bool)
                  and math.isfinite(v) and (isinstance(v, int) or not isinstance(d, int)))
        elif isinstance(d, str):
            ok = isinstance(v, str)
        else:
            continue
        if not ok:
            raise ConfigError(f"{where}.{k}: expected a value like the default "
                              f"{d!r} of {cls.__name__}, got {v!r}")


def make_sampler(st: StudySpec, seed: int, where: str):
    opt = optuna()
    kind = st.sampler
    if kind == "auto":
        kind = "nsga2" if st.multi else "tpe"
    opts = dict(st.sampler_options)
    classes = {"tpe": opt.samplers.TPESampler, "nsga2": opt.samplers.NSGAIISampler,
               "random": opt.samplers.RandomSampler, "grid": opt.samplers.RandomSampler,
               "gp": opt.samplers.GPSampler}
    check_options(classes[kind], opts, f"{where}.sampler_options")
    try:
        if kind == "tpe":
            kw = dict(seed=seed, multivariate=True, group=any(p.when for p in st.space),
                      constant_liar=True)
            kw.update(opts)
            return opt.samplers.TPESampler(**kw)
        if kind == "nsga2":
            kw = dict(seed=seed, population_size=20)
            kw.update(opts)
            return opt.samplers.NSGAIISampler(**kw)
        if kind == "random":
            return opt.samplers.RandomSampler(seed=seed, **opts)
        if kind == "grid":
            # The grid points are enqueued as trials (see enqueue_grid): Optuna's
            # GridSampler calls study.stop() when the grid is exhausted, which is
            # an error outside study.optimize (this driver uses ask-and-tell).
            return opt.samplers.RandomSampler(seed=seed, **opts)
        if kind == "gp":
            try:
                import scipy  # noqa: F401
                import torch  # noqa: F401
            except ImportError:
                raise InputError("sampler gp needs PyTorch and SciPy: pip install torch "
                                     "scipy (or use sampler: tpe)") from None
            kw = dict(seed=seed)
            kw.update(opts)
            return opt.samplers.GPSampler(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}.sampler_options: {exc}") from None
    raise AssertionError(kind)  # pragma: no cover


def make_pruner(st: StudySpec, n_workloads: int, where: str):
    opt = optuna()
    kind = st.pruner.kind
    opts = dict(st.pruner.options)
    if kind == "auto":
        kind = "median" if (not st.multi and n_workloads > 1) else "none"
        opts = {"n_startup_trials": 5, "n_warmup_steps": 1, **opts}
    classes = {"median": opt.pruners.MedianPruner, "percentile": opt.pruners.PercentilePruner,
               "successive_halving": opt.pruners.SuccessiveHalvingPruner,
               "hyperband": opt.pruners.HyperbandPruner}
    if kind in classes:
        check_options(classes[kind], opts, f"{where}.pruner")
    try:
        if kind == "none" or n_workloads < 2:
            return opt.pruners.NopPruner()
        if kind == "median":
            return opt.pruners.MedianPruner(**opts)
        if kind == "percentile":
            opts.setdefault("percentile", 25.0)
            return opt.pruners.PercentilePruner(**opts)
        if kind == "successive_halving":
            opts.setdefault("min_resource", 1)
            return opt.pruners.SuccessiveHalvingPruner(**opts)
        if kind == "hyperband":
            opts.setdefault("min_resource", 1)
            opts.setdefault("max_resource", n_workloads)
            return opt.pruners.HyperbandPruner(**opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.pruner: {exc}") from None
    raise AssertionError(kind)  # pragma: no cover


def enqueue_grid(st: StudySpec, study) -> None:
    """Every grid point as an enqueued trial, in declaration order."""
    import itertools

    keys = [p.key for p in st.space]
    for combo in itertools.product(*[p.grid_values() for p in st.space]):
        study.enqueue_trial(dict(zip(keys, combo, strict=True)))


# ------------------------------------------------------------ reading back


def state_counts(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name.lower()] = out.get(t.state.name.lower(), 0) + 1
    return out


def infeasible_count(study) -> int:
    """Complete trials with a constraint value > 0 (kept in the study, marked)."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE
               and any(v > 0 for v in t.constraints.values()))


def best_trials(study, st: StudySpec) -> list[dict]:
    """The best trial (one objective) or the Pareto front, best on the first objective first."""
    from optuna.trial import TrialState

    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    try:
        trials = study.best_trials if st.multi else [study.best_trial]
    except ValueError:  # no feasible trial: the least infeasible (its constraints say so)
        sign = 1 if st.objectives[0].direction == "maximize" else -1
        done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        trials = [min(done, key=lambda t: (sum(max(v, 0.0) for v in t.constraints.values()),
                                           -sign * t.values[0], t.number))]
    if st.multi:
        # The front member best on the first objective is "the" tuned point.
        sign = 1 if st.objectives[0].direction == "maximize" else -1
        trials = sorted(trials, key=lambda t: -sign * t.values[0])
    return [{"number": t.number, "values": list(t.values), "params": dict(t.params),
             "per_workload": t.user_attrs.get("per_workload", {}),
             "constraints": dict(t.constraints)} for t in trials]


def importances(study, st: StudySpec) -> dict[str, dict[str, float]]:
    """PED-ANOVA parameter importances per objective metric (none with < 8 complete trials)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(st.space) < 2 or len(done) < 8:
        return {}
    opt = optuna()
    out = {}
    for i, o in enumerate(st.objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = opt.importance.get_param_importances(
                    study, evaluator=opt.importance.PedAnovaImportanceEvaluator(),
                    # With a target PED-ANOVA ranks for low values: negate maximized ones.
                    target=(lambda t, i=i, sg=(-1 if o.direction == "maximize" else 1):
                            sg * t.values[i]) if st.multi else None)
        except Exception:  # noqa: BLE001 - too few distinct trials, missing extras
            continue
        out[o.metric] = {k: float(v) for k, v in imp.items()}
    return out


def write_trials_table(study, path: Path) -> None:
    """Optuna's view of the study's trials as a parquet file (nothing for an empty study)."""
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
    write_parquet(df, path)
