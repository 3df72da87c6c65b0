"""Scheduling evaluations onto a backend: chunks, shared inputs, cancellation.

Evaluations wait in a queue and go out in chunks ("several simulations per
task when they are short"): the chunk size aims at ``target_task_s`` of work
per task from the measured wall time of finished evaluations, and shrinks
when the queue is short so that every slot has work. A few more chunks than
slots are kept in flight so a worker never waits for the driver.

Large shared inputs: a ``counts`` workload read from a ``.npy`` file, and a
``trace`` workload (converted once on the driver, through the on-disk
conversion cache), are loaded once by the driver, put into the backend's
object store once, and every task gets a reference instead of the path
(workers neither re-read the file nor receive a copy per task).

The scheduler hands the backend the function each task runs
(``harness.run.worker.run_chunk`` unless told otherwise).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.run.backends.base import Backend, TaskFailed
from harness.run.worker import Evaluation, run_chunk


class Scheduler:
    """Queue of evaluations -> chunks in flight on a backend."""

    def __init__(self, backend: Backend, *, max_in_flight: int | None = None,
                 target_task_s: float = 0.5, max_chunk: int = 64,
                 fn: Callable[..., list[dict]] = run_chunk):
        self.backend = backend
        self.fn = fn  # what every task runs: fn(specs, *shared) -> outputs
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
            # A scaled trace stays a trace (the model scales traces only, and the
            # counts substitute would drop scale_to_gb): its worker reads the
            # conversion from the on-disk cache.
            if w.kind == "trace" and w.path is not None and w.scale_to_gb is None:
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
            task = self.backend.submit(self.fn, specs, *[self._shared_list[si] for si in used])
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
