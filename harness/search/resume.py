"""Resuming a study after a dead driver: journal repair, RUNNING-trial recovery, budget.

Optuna's journal storage has no heartbeat, so on start the driver treats
every RUNNING trial as left by a dead driver (one driver per study; the run
directory is locked): it enqueues the trial's parameters again (user attrs
``retry_of`` and ``root_trial``) and marks the trial FAIL. Evaluation ids
derive from the *root* trial number, so the retry finds the evaluations its
predecessor finished and reuses them. The trial budget counts finished
trials (complete, pruned, or failed for a reason other than a dead driver)
over the whole study, so a rerun only makes up the difference.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def repair_journal(path: Path) -> bool:
    """Drop a torn last record (a driver killed in the middle of a write); True if dropped.

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
    return True


def remove_stale_journal_lock(path: Path) -> None:
    """The journal's lock file in a run directory this process has locked was
    left by a killed driver: remove it now instead of waiting for Optuna's 30 s
    grace period."""
    with contextlib.suppress(FileNotFoundError):
        Path(f"{path}.lock").unlink()


def _retried(trials) -> set:
    return {t.user_attrs.get("retry_of") for t in trials if "retry_of" in t.user_attrs}


DRIVER_ATTR = "driver"  # host:pid of the driver that asked a trial


def driver_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _driver_dead(trial) -> bool:
    """A RUNNING trial's driver is gone: its process on this host has exited. A
    driver on another host cannot be checked: its trials are left to it."""
    host, _, pid = str(trial.user_attrs.get(DRIVER_ATTR, "")).rpartition(":")
    if not host:
        return True  # asked before drivers were recorded: a single-driver study's
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return True
    return int(pid) == os.getpid()  # this process's own earlier run


def recover_stale(study) -> list[int]:
    """Fail trials left RUNNING by a dead driver and enqueue their parameters again
    (a live driver sharing the study keeps its trials)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    stale = [t for t in trials if t.state == TrialState.RUNNING and _driver_dead(t)]
    for t in stale:
        if t.number not in retried:  # a crash between enqueue and tell: enqueue once
            attrs = {"retry_of": t.number, "root_trial": t.user_attrs.get("root_trial", t.number)}
            if "label" in t.user_attrs:
                attrs["label"] = t.user_attrs["label"]
            study.enqueue_trial(dict(t.params), user_attrs=attrs)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    return [t.number for t in stale]


def budget_taken(trials, before: int | None = None, exclude: set | None = None) -> int:
    """Trials that count against the budget, in the storage (every driver's):
    finished ones (not a dead driver's failure, which is retried, nor a trial
    told over budget) and running ones, optionally only those numbered below
    `before`, and not those in `exclude` (a driver's own, counted apart)."""
    from optuna.trial import TrialState

    retried = _retried(trials)
    n = 0
    for t in trials:
        if (before is not None and t.number >= before) or (exclude and t.number in exclude):
            continue
        if t.state == TrialState.FAIL and (t.number in retried or t.user_attrs.get("over_budget")):
            continue
        if t.state.is_finished() or t.state == TrialState.RUNNING:
            n += 1
    return n


def budget_used(study) -> int:
    """Finished trials that count against the budget (a dead driver's are retried instead)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    return sum(1 for t in trials if t.state.is_finished()
               and not (t.state == TrialState.FAIL and t.number in retried))


def root_of(trial) -> int:
    """The trial whose evaluation ids a (retried) trial uses."""
    return int(trial.user_attrs.get("root_trial", trial.number))
