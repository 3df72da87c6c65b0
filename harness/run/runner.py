"""Running evaluations into a run directory: the entry point for sweeps and comparisons.

``run_evaluations`` runs the evaluations not yet stored and appends their
rows as they finish; studies drive the ``Scheduler`` themselves so that they
can start trials as capacity frees up and cancel pruned ones.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.run.backends.base import Backend
from harness.run.progress import progress_bar
from harness.run.scheduler import Scheduler
from harness.run.store import ResultStore, finish_manifest
from harness.run.worker import Evaluation, make_row

__all__ = ["Evaluation", "Outcome", "as_evaluations", "run_evaluations", "run_recorded"]


def as_evaluations(items, run: str = "", mode: str = "compare") -> list[Evaluation]:
    """Accept Evaluation objects or (eval_id, RunConfig) pairs."""
    out = []
    for it in items:
        if isinstance(it, Evaluation):
            out.append(it)
        else:
            key, cfg = it
            out.append(Evaluation(eval_id=str(key), cfg=cfg, run=run or cfg.name, mode=mode,
                                  label=str(key), workload=cfg.name, seed=cfg.seed))
    ids = [e.eval_id for e in out]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise ValueError(f"duplicate eval ids: {dup}")
    return out


@dataclass
class Outcome:
    table: pd.DataFrame          # rows of the requested evaluations (stored ones included)
    errors: list[tuple[str, str]]  # (eval_id, error) of evaluations that failed
    computed: int                # evaluations run now
    reused: int                  # evaluations already in the store
    wall_s: float = 0.0
    identical: int = 0           # run once for another evaluation of the same config

    def counts_text(self) -> str:
        """``N run now, M already there[, K identical to another point's], F failed``."""
        same = f", {self.identical} identical to another point's (run once)" \
            if self.identical else ""
        return (f"{self.computed} run now, {self.reused} already there{same}, "
                f"{len(self.errors)} failed")


def config_key(ev: Evaluation) -> str:
    """The resolved run config and seed: two evaluations with the same key give the
    same result (a sweep point equal to the RFC defaults, say)."""
    return json.dumps(ev.cfg.to_dict(), sort_keys=True, default=str)


def run_evaluations(evaluations, out_dir: str | Path | ResultStore, backend: Backend, *,
                    run: str = "", mode: str = "compare", progress: bool = True,
                    desc: str | None = None, target_task_s: float = 0.5) -> Outcome:
    """Run evaluations not yet in `out_dir`, appending rows as they finish.

    `evaluations`: Evaluation objects or (eval_id, RunConfig) pairs. An
    eval_id already stored is not run again (resume after a crash; the same
    command twice runs nothing new). Returns the rows of all requested
    evaluations and the errors of those that failed (not stored: a rerun
    retries them).
    """
    evals = as_evaluations(evaluations, run=run, mode=mode)
    own = not isinstance(out_dir, ResultStore)
    store = ResultStore(out_dir) if own else out_dir
    todo = [ev for ev in evals if ev.eval_id not in store]
    # Identical resolved configs run once; each evaluation still gets its own row.
    groups: dict[str, list[Evaluation]] = {}
    for ev in todo:
        groups.setdefault(config_key(ev), []).append(ev)
    leaders = [g[0] for g in groups.values()]
    followers = {g[0].eval_id: g[1:] for g in groups.values() if len(g) > 1}
    sched = Scheduler(backend, max_in_flight=2 * backend.slots, target_task_s=target_task_s)
    sched.add(leaders)
    errors: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    bar = progress_bar(len(evals), len(evals) - len(todo), desc or mode, progress)
    try:
        while not sched.idle():
            for ev, out in sched.step(timeout=1.0):
                for e in (ev, *followers.get(ev.eval_id, ())):
                    if out.get("ok"):
                        row, ts = make_row(e, out)
                        store.add(row, ts)
                    else:
                        errors.append((e.eval_id, out.get("error", "?")))
                        bar.write(f"tiersweep: evaluation {e.eval_id} failed: "
                                  f"{out.get('error')}", file=sys.stderr)
                    bar.update(1)
            store.maybe_flush()
    finally:
        bar.close()
        sched.cancel_all()
        store.flush()
        if own:
            store.consolidate()
    table = pd.DataFrame(store.rows([ev.eval_id for ev in evals]))
    failed = {eid for eid, _ in errors}
    failed_leaders = sum(1 for ev in leaders if ev.eval_id in failed)
    return Outcome(table=table, errors=errors, computed=len(leaders) - failed_leaders,
                   reused=len(evals) - len(todo), wall_s=time.perf_counter() - t0,
                   identical=len(todo) - len(leaders))


def run_recorded(evaluations, out_dir: Path, manifest: dict, backend: Backend, *, run: str,
                 mode: str, progress: bool = True) -> Outcome:
    """run_evaluations into a run directory whose manifest was started: the
    tables are consolidated and the manifest closed with the outcome (done,
    failed, or interrupted if it raised)."""
    store = ResultStore(out_dir)
    status = "interrupted"
    try:
        outcome = run_evaluations(evaluations, store, backend, run=run, mode=mode,
                                  progress=progress, desc=f"{mode} {run}")
        status = "failed" if outcome.errors else "done"
    finally:
        try:
            store.consolidate()
        finally:  # even when the disk is full: the manifest may still fit
            finish_manifest(out_dir, manifest, status)
    return outcome
