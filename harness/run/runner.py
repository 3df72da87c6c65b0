"""Running evaluations: chunks of simulations as backend tasks, results to the store.

An *evaluation* is one simulation: a RunConfig plus where it belongs (run,
mode, trial, label, workload, seed, knob values) and a stable ``eval_id``.
``run_evaluations`` is the reusable entry point (sweeps and ``compare`` use
it); studies drive the ``Scheduler`` directly so that they can start trials
as capacity frees up and cancel pruned ones.

Scheduling: evaluations wait in a queue and go out in chunks ("several
simulations per task when they are short"): the chunk size aims at
``target_task_s`` of work per task from the measured wall time of finished
evaluations, and shrinks when the queue is short so that every slot has
work. A few more chunks than slots are kept in flight so a worker never
waits for the driver.

Large shared inputs: a ``counts`` workload read from a ``.npy`` file, and a
``trace`` workload (converted once on the driver, through the on-disk
conversion cache), are loaded once by the driver, put into the backend's
object store once, and every task gets a reference instead of the path
(workers neither re-read the file nor receive a copy per task).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.config import RunConfig
from harness.run.backends import Backend, TaskFailed
from harness.run.store import ResultStore, finish_manifest, timeseries_long


@dataclass
class Evaluation:
    eval_id: str
    cfg: RunConfig
    run: str = ""
    mode: str = "compare"
    trial: int = -1
    label: str = ""
    workload: str = ""
    seed: int = 0
    params: dict = field(default_factory=dict)
    group: Any = None


def eval_id(run: str, mode: str, key: str, workload: str, seed: int) -> str:
    """Stable id: the same evaluation gets the same id on every run and worker count."""
    return f"{run}/{mode}/{key}/{workload}/s{seed}"


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


# ------------------------------------------------------------ worker side


def run_chunk(specs: list, *shared) -> list[dict]:
    """Run a chunk of simulations (in a Ray worker or in-process).

    `specs`: (eval_id, RunConfig, [(workload index, shared index), ...]);
    `shared`: the large arrays the driver put into the object store once
    (Ray resolves them to read-only numpy arrays without copying).
    """
    from harness.model import simulate

    worker = f"{socket.gethostname()}/{os.getpid()}"
    outs = []
    for eid, cfg, subs in specs:
        try:
            if subs:
                wls = list(cfg.workloads)
                for wi, si in subs:
                    wls[wi] = dataclasses.replace(wls[wi], counts=shared[si])
                cfg = dataclasses.replace(cfg, workloads=tuple(wls))
            t0 = time.perf_counter()
            res = simulate(cfg)
            sim_s = time.perf_counter() - t0
            outs.append({"eval_id": eid, "ok": True, "metrics": res.metrics,
                         "ts": timeseries_long(res.timeseries), "worker": worker,
                         "eval_wall_s": sim_s, "finished_at": time.time()})
        except MemoryError:
            raise  # Ray retries the chunk (retry_exceptions)
        except Exception as exc:  # noqa: BLE001 - reported per evaluation
            msg = str(exc).strip().splitlines()
            outs.append({"eval_id": eid, "ok": False, "worker": worker,
                         "error": f"{type(exc).__name__}: {msg[0] if msg else ''}"})
    return outs


# ------------------------------------------------------------ driver side


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v, default=str)


def make_row(ev: Evaluation, out: dict) -> tuple[dict, dict]:
    """A trials.parquet row and the evaluation's long-form time series."""
    m = dict(out["metrics"])
    policy = m.pop("policy", ev.cfg.policy.kind)
    row: dict[str, Any] = {
        "run": ev.run, "mode": ev.mode, "trial": int(ev.trial), "eval_id": ev.eval_id,
        "label": ev.label, "policy": str(policy), "version": str(ev.cfg.policy.version),
        "workload": ev.workload, "seed": int(ev.seed)}
    for k, v in ev.params.items():
        row[f"param.{k}"] = _scalar(v)
    for k, v in m.items():
        if k in row or k in ("worker", "finished_at"):
            k = f"metric.{k}"
        row[k] = _scalar(v)
    row["eval_wall_s"] = out.get("eval_wall_s", float("nan"))
    row["worker"] = out.get("worker", "")
    row["finished_at"] = datetime.fromtimestamp(out.get("finished_at", time.time()), UTC)
    cols = out.get("ts") or {}
    n = len(next(iter(cols.values()))) if cols else 0
    ts = {"eval_id": np.full(n, ev.eval_id, dtype=object), **cols}
    return row, ts


class Scheduler:
    """Queue of evaluations -> chunks in flight on a backend."""

    def __init__(self, backend: Backend, *, max_in_flight: int | None = None,
                 target_task_s: float = 0.5, max_chunk: int = 64):
        self.backend = backend
        self.max_in_flight = max_in_flight or backend.slots + max(1, backend.slots // 4)
        self.target_task_s = target_task_s
        self.max_chunk = max_chunk
        self.queue: deque[Evaluation] = deque()
        self.inflight: dict[Any, list[Evaluation]] = {}
        self.est_s: float | None = None
        self._shared: dict[tuple, tuple[int, Any]] = {}
        self._shared_list: list[Any] = []
        self.tasks_submitted = 0

    # --------------------------------------------------------------- queue
    def add(self, evals: list[Evaluation]) -> None:
        self.queue.extend(evals)

    def wants_work(self) -> bool:
        """True when nothing waits and a slot is free: time to start more work."""
        return not self.queue and len(self.inflight) < self.max_in_flight

    def idle(self) -> bool:
        return not self.queue and not self.inflight

    def _chunk_size(self) -> int:
        if self.est_s is None:
            return 1
        k = int(self.target_task_s / max(self.est_s, 1e-4))
        free = max(1, self.max_in_flight - len(self.inflight))
        k = min(k, math.ceil(len(self.queue) / free))
        return max(1, min(k, self.max_chunk))

    def _prepare(self, ev: Evaluation) -> tuple:
        """(eval_id, cfg for the worker, substitutions) with shared arrays put once."""
        subs = []
        cfg = ev.cfg
        wls = list(cfg.workloads)
        for i, w in enumerate(wls):
            if w.kind == "trace" and w.path is not None:
                sub = self._share_trace(w, cfg.platform.page_bytes)
                if sub is not None:
                    idx, window_ms = sub
                    wls[i] = dataclasses.replace(w, kind="counts", path=None, counts=(),
                                                 window_ms=window_ms, processes=1)
                    subs.append((i, idx))
                continue
            if w.kind == "counts" and w.path is not None:
                path = Path(w.path)
                try:
                    st = path.stat()
                except OSError:
                    continue  # the worker reports the missing file
                key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
                if key not in self._shared:
                    try:
                        arr = np.load(path, allow_pickle=False)
                    except (OSError, ValueError):
                        continue  # let the model report it with its own message
                    self._shared[key] = (len(self._shared_list), self.backend.put(arr))
                    self._shared_list.append(self._shared[key][1])
                idx, _ = self._shared[key]
                wls[i] = dataclasses.replace(w, path=None, counts=())
                subs.append((i, idx))
        if subs:
            cfg = dataclasses.replace(cfg, workloads=tuple(wls))
        return ev.eval_id, cfg, subs

    def _share_trace(self, w, page_bytes: int) -> tuple[int, int] | None:
        """Convert a trace once on the driver (cached on disk) and put its
        per-process count arrays into the object store once."""
        path = Path(w.path)
        try:
            st = path.stat()
        except OSError:
            return None  # the worker reports the missing file
        key = ("trace", str(path.resolve()), st.st_mtime_ns, st.st_size, page_bytes,
               w.window_ms, w.instructions_per_s, w.format, w.skip_bad_lines, w.processes)
        if key not in self._shared:
            from harness.errors import TiersweepError
            from harness.traces import load_trace_counts

            try:
                tc = load_trace_counts(w, page_bytes)
            except TiersweepError:
                return None  # let the worker report it with its own message
            ref = self.backend.put(tuple(tc.per_process))
            self._shared[key] = (len(self._shared_list), ref, int(tc.window_ms))
            self._shared_list.append(ref)
        idx, _, window_ms = self._shared[key]
        return idx, window_ms

    def dispatch(self) -> None:
        while self.queue and len(self.inflight) < self.max_in_flight:
            k = self._chunk_size()
            group = self.queue[0].group
            chunk = []
            while self.queue and len(chunk) < k and self.queue[0].group == group:
                chunk.append(self.queue.popleft())
            specs = [self._prepare(ev) for ev in chunk]
            used = sorted({si for _, _, subs in specs for _, si in subs})
            if used:
                remap = {si: j for j, si in enumerate(used)}
                specs = [(e, c, [(wi, remap[si]) for wi, si in subs]) for e, c, subs in specs]
            task = self.backend.submit(specs, [self._shared_list[si] for si in used])
            self.inflight[task] = chunk
            self.tasks_submitted += 1

    def step(self, timeout: float | None = 1.0) -> list[tuple[Evaluation, dict]]:
        """Dispatch, wait for at least one chunk (or the timeout), return finished evaluations."""
        self.dispatch()
        if not self.inflight:
            return []
        done, _ = self.backend.wait(list(self.inflight), timeout)
        results = []
        for task in done:
            chunk = self.inflight.pop(task, None)
            if chunk is None:
                continue
            try:
                outs = self.backend.result(task)
            except TaskFailed as exc:
                outs = [{"eval_id": ev.eval_id, "ok": False, "error": str(exc)} for ev in chunk]
            by_id = {o["eval_id"]: o for o in outs}
            for ev in chunk:
                out = by_id.get(ev.eval_id, {"eval_id": ev.eval_id, "ok": False,
                                             "error": "missing from the task's output"})
                results.append((ev, out))
                wall = out.get("metrics", {}).get("wall_s") if out.get("ok") else None
                if isinstance(wall, int | float) and wall > 0:
                    self.est_s = wall if self.est_s is None else 0.8 * self.est_s + 0.2 * wall
        self.dispatch()  # refill before the caller spends time on the results
        return results

    def cancel_group(self, group: Any) -> int:
        """Drop queued evaluations of `group` and cancel its chunks in flight."""
        before = len(self.queue)
        self.queue = deque(ev for ev in self.queue if ev.group != group)
        n = before - len(self.queue)
        for task, chunk in list(self.inflight.items()):
            if chunk and chunk[0].group == group:
                self.backend.cancel(task)
                del self.inflight[task]
                n += len(chunk)
        return n

    def cancel_all(self) -> None:
        self.queue.clear()
        for task in list(self.inflight):
            self.backend.cancel(task)
        self.inflight.clear()


@dataclass
class Outcome:
    table: pd.DataFrame          # rows of the requested evaluations (stored ones included)
    errors: list[tuple[str, str]]  # (eval_id, error) of evaluations that failed
    computed: int                # evaluations run now
    reused: int                  # evaluations already in the store
    wall_s: float = 0.0


def progress_bar(total: int, initial: int, desc: str, enabled: bool, unit: str = "eval"):
    """tqdm on a terminal; elsewhere (ray job logs, CI) one plain line every 15 s."""
    if enabled and not sys.stderr.isatty():
        return _LogProgress(total, initial, desc, unit)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, mininterval=0.5, smoothing=0.1)


class _LogProgress:
    """The tqdm calls the drivers use, as occasional log lines with done/total and ETA."""

    def __init__(self, total: int, initial: int, desc: str, unit: str, every_s: float = 15.0):
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.start_n, self.t0 = initial, time.monotonic()
        self.every_s, self.last = every_s, self.t0
        self.postfix = ""

    def _line(self) -> str:
        el = time.monotonic() - self.t0
        done = self.n - self.start_n
        eta = (self.total - self.n) * el / done if done else float("nan")
        eta_s = f"{eta:.0f} s" if math.isfinite(eta) else "?"
        post = f", {self.postfix}" if self.postfix else ""
        return (f"{self.desc}: {self.n}/{self.total} {self.unit}s, {el:.0f} s elapsed, "
                f"ETA {eta_s}{post}")

    def update(self, k: int = 1) -> None:
        self.n += k
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            print(self._line(), file=sys.stderr, flush=True)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def write(self, text: str, file=None) -> None:
        print(text, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.n > self.start_n:
            print(self._line(), file=sys.stderr, flush=True)


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
    sched = Scheduler(backend, max_in_flight=2 * backend.slots, target_task_s=target_task_s)
    sched.add(todo)
    errors: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    bar = progress_bar(len(evals), len(evals) - len(todo), desc or mode, progress)
    try:
        while not sched.idle():
            for ev, out in sched.step(timeout=1.0):
                if out.get("ok"):
                    row, ts = make_row(ev, out)
                    store.add(row, ts)
                else:
                    errors.append((ev.eval_id, out.get("error", "?")))
                    bar.write(f"tiersweep: evaluation {ev.eval_id} failed: {out.get('error')}",
                              file=sys.stderr)
                bar.update(1)
            store.maybe_flush()
    finally:
        bar.close()
        sched.cancel_all()
        store.flush()
        if own:
            store.consolidate()
    table = pd.DataFrame(store.rows([ev.eval_id for ev in evals]))
    return Outcome(table=table, errors=errors, computed=len(todo) - len(errors),
                   reused=len(evals) - len(todo), wall_s=time.perf_counter() - t0)


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
        store.consolidate()
        finish_manifest(out_dir, manifest, status)
    return outcome
