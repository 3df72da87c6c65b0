"""Optuna studies behind a run: finding and opening the journal, and the
numbers of figure 5 (optimization history, parameter importances)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis.runs import RunData, find_journal, load_run, read_manifest, study_name
from harness.errors import InputError
from harness.run.store.layout import COMPARE_INFO, MANIFEST


@dataclass
class StudyTables:
    name: str
    direction: str  # "maximize" or "minimize" (of the first objective)
    metric: str
    history: pd.DataFrame  # trial, value, best_so_far
    importances: pd.DataFrame  # param, importance
    evaluator: str
    n_complete: int
    states: dict[str, int] = field(default_factory=dict)  # trials per state (pruned, failed)


def load_study(journal: Path, name: str | None = None):
    """Open a study from an Optuna journal file (read only use)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not journal.is_file():
        raise InputError(f"{journal}: missing; expected an Optuna journal file")
    try:
        storage = JournalStorage(JournalFileBackend(str(journal)))
        names = optuna.study.get_all_study_names(storage)
    except Exception as exc:
        raise InputError(f"{journal}: not a readable Optuna journal ({exc})") from None
    if not names:
        raise InputError(f"{journal}: holds no study")
    if name is None or (name not in names and len(names) == 1):
        if len(names) > 1:
            raise InputError(f"{journal}: holds several studies ({', '.join(names)}) and the "
                             f"manifest names none of them")
        name = names[0]
    elif name not in names:
        raise InputError(f"{journal}: no study named {name!r}; it holds {', '.join(names)}")
    return optuna.load_study(study_name=name, storage=storage)


def find_study(run: RunData, explicit: str | Path | None = None):
    """The Optuna study behind a run: an explicit journal or run directory, the run's
    own journal, or the tuning run that compare's record names (compare.json)."""
    if explicit is not None:
        p = Path(explicit)
        if p.is_dir():
            sub = load_run(p)
            if sub.journal is None:
                raise InputError(f"{p}: no Optuna journal (*.journal) in this run directory")
            return load_study(sub.journal, study_name(sub.manifest))
        return load_study(p)
    if run.journal is not None:
        return load_study(run.journal, study_name(run.manifest))
    info = run.path / COMPARE_INFO
    if info.is_file():
        try:
            data = json.loads(info.read_text())
        except ValueError:
            raise InputError(f"{info}: not valid JSON; expected compare's record") from None
        tuned = data.get("tuned_from") if isinstance(data, dict) else None
        if tuned:
            tp = Path(tuned)
            tp = tp if tp.is_absolute() else (run.path / tp)
            if tp.is_dir():
                sub_manifest = read_manifest(tp / MANIFEST)
                journal = find_journal(tp, sub_manifest)
                if journal is not None:
                    return load_study(journal, study_name(sub_manifest))
    return None


def choose_evaluator(n_trials: int, fanova_max: int = 300):
    """fANOVA (a random forest; needs scikit-learn) on small studies, else PED-ANOVA,
    which stays fast on thousands of trials (STACK.md: 0.1 s versus 93 s at 10k)."""
    import optuna.importance as imp

    if n_trials <= fanova_max:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            pass
        else:
            return imp.FanovaImportanceEvaluator(seed=0), "fANOVA"
    return imp.PedAnovaImportanceEvaluator(), "PED-ANOVA"


def study_tables(study) -> StudyTables:
    """Figure 5's numbers: completed trials' values (first objective) and importances."""
    import optuna
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    vals = [t.values[0] for t in done]
    hist = pd.DataFrame({"trial": [t.number for t in done], "value": vals})
    hist = hist.sort_values("trial").reset_index(drop=True)
    hist["best_so_far"] = hist["value"].cummax() if maximize else hist["value"].cummin()
    names = getattr(study, "metric_names", None)
    metric = names[0] if names else "objective"
    imp = pd.DataFrame(columns=["param", "importance"])
    evaluator = "none"
    varied = {k for t in done for k in t.params}
    if len(done) >= 2 and varied:
        ev, evaluator = choose_evaluator(len(done))
        target = None if len(study.directions) == 1 else (lambda t: t.values[0])
        try:
            res = optuna.importance.get_param_importances(study, evaluator=ev, target=target)
        except (RuntimeError, ValueError) as exc:
            evaluator = f"{evaluator} failed: {exc}"
        else:
            imp = pd.DataFrame({"param": list(res.keys()), "importance": list(res.values())})
            imp = imp.sort_values(["importance", "param"], ascending=[False, True])
            imp = imp.reset_index(drop=True)
    return StudyTables(name=study.study_name, direction="maximize" if maximize else "minimize",
                       metric=metric, history=hist, importances=imp, evaluator=evaluator,
                       n_complete=len(done),
                       states=dict(Counter(t.state.name.lower() for t in
                                           study.get_trials(deepcopy=False))))
