"""Execution backends: where chunks of evaluations run.

The search code (sweeps, studies) sees only this interface:

    put(obj) -> handle            share a large object once (Ray: the object store)
    submit(specs, shared) -> task run a chunk of evaluations (harness.run.runner.run_chunk)
    wait(tasks, timeout) -> (done, pending)
    result(task) -> list of outputs   (raises TaskFailed)
    cancel(task)
    slots                         how many chunks may run at once
    close()

Backends: ``RayBackend`` (a local Ray instance, or an existing cluster by
address) and ``InlineBackend`` (runs chunks in this process, one at a time:
for small unit tests and debugging).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

from harness.errors import TiersweepError


class TaskFailed(Exception):
    """A chunk failed as a whole (its worker died for good, or it was cancelled)."""


class Backend:
    slots: int = 1
    name: str = "backend"

    def put(self, obj: Any) -> Any:
        return obj

    def submit(self, specs: list, shared: list) -> Any:
        raise NotImplementedError

    def wait(self, tasks: list, timeout: float | None) -> tuple[list, list]:
        raise NotImplementedError

    def result(self, task: Any) -> list:
        raise NotImplementedError

    def cancel(self, task: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"backend": self.name, "slots": self.slots}

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InlineBackend(Backend):
    """Runs each chunk in this process when waited for; deterministic order."""

    name = "inline"

    def __init__(self, slots: int = 1):
        self.slots = slots
        self._done: dict[int, Any] = {}

    def submit(self, specs: list, shared: list) -> Any:
        return _Thunk(specs, shared)

    def wait(self, tasks: list, timeout: float | None) -> tuple[list, list]:
        if not tasks:
            return [], []
        first = tasks[0]
        first.run()
        return [first], list(tasks[1:])

    def result(self, task: Any) -> list:
        if task.cancelled:
            raise TaskFailed("cancelled")
        return task.run()


class _Thunk:
    def __init__(self, specs, shared):
        self.specs, self.shared = specs, shared
        self.out = None
        self.cancelled = False

    def run(self):
        if self.out is None and not self.cancelled:
            from harness.run.runner import run_chunk

            self.out = run_chunk(self.specs, *self.shared)
        return self.out


def _local_ray_env() -> None:
    """Environment for a local Ray instance, set before Ray is imported.

    * no usage statistics;
    * Ray 2.60 turns on token authentication by default: off for a private
      local instance unless the user chose otherwise (RAY_AUTH_MODE);
    * bind every Ray server to 127.0.0.1: on Linux Ray advertises and binds
      the machine's outward address unless this (misnamed) switch is off.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


class RayBackend(Backend):
    """Ray tasks. Local Ray by default (127.0.0.1, `cpus` CPUs, no dashboard);
    with `address` (or RAY_ADDRESS) it connects to that cluster instead.

    On a cluster `cpus` caps how many chunks run at once; otherwise every CPU
    the cluster offers is used.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus: int | None = None,
                 max_retries: int = 3, runtime_env: dict | None = None):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        address = address or os.environ.get("RAY_ADDRESS") or None
        if cpus is not None and cpus < 1:
            raise TiersweepError("--cpus: expected at least 1 CPU")
        if address is None:
            _local_ray_env()
        import ray

        self._ray = ray
        self.address = address
        self._owns = False
        if ray.is_initialized():
            # Already connected (e.g. a test's Ray session): use it as it is.
            pass
        elif address is None:
            ncpu = cpus  # None: Ray counts the CPUs (and honours cgroup quotas)
            if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
                # If Ray was imported before the environment was set, apply the
                # 127.0.0.1 binding to the already-loaded constant as well.
                with contextlib.suppress(AttributeError):  # Ray internals moved
                    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
            ray.init(address="local", num_cpus=ncpu, include_dashboard=False,
                     dashboard_host="127.0.0.1", logging_level=logging.WARNING,
                     log_to_driver=True, runtime_env=runtime_env)
            self._owns = True
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True,
                     runtime_env=runtime_env)
            self._owns = True
        total = int(ray.cluster_resources().get("CPU", 0))
        if total < 1:
            raise TiersweepError("the Ray cluster offers no CPUs")
        self.cluster_cpus = total
        self.slots = min(total, cpus) if cpus else total
        from harness.run.runner import run_chunk

        # max_retries: a chunk whose worker process died (killed, lost node,
        # out of memory) is run again elsewhere; retry_exceptions covers
        # MemoryError raised inside the task. Evaluation errors are caught in
        # run_chunk and reported per evaluation (retrying them is pointless).
        self._fn = ray.remote(num_cpus=1, max_retries=max_retries,
                              retry_exceptions=[MemoryError])(run_chunk)

    def put(self, obj: Any) -> Any:
        return self._ray.put(obj)

    def submit(self, specs: list, shared: list) -> Any:
        return self._fn.remote(specs, *shared)

    def wait(self, tasks: list, timeout: float | None) -> tuple[list, list]:
        if not tasks:
            return [], []
        done, pending = self._ray.wait(tasks, num_returns=1, timeout=timeout)
        if done and pending:
            more, pending = self._ray.wait(pending, num_returns=len(pending), timeout=0)
            done += more
        return done, pending

    def result(self, task: Any) -> list:
        from ray.exceptions import RayError, TaskCancelledError

        try:
            return self._ray.get(task)
        except TaskCancelledError as exc:
            raise TaskFailed("cancelled") from exc
        except RayError as exc:
            first = str(exc).strip().splitlines()
            raise TaskFailed(f"{type(exc).__name__}: {first[0] if first else ''}") from exc

    def cancel(self, task: Any) -> None:
        with contextlib.suppress(Exception):  # already finished or gone
            self._ray.cancel(task, force=False)

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False

    def describe(self) -> dict:
        ctx = self._ray.get_runtime_context()
        return {"backend": "ray", "address": self.address or "local", "slots": self.slots,
                "cluster_cpus": self.cluster_cpus, "ray_version": self._ray.__version__,
                "node_id": ctx.get_node_id(), "gcs_address": ctx.gcs_address}


def make_backend(kind: str = "ray", address: str | None = None, cpus: int | None = None) -> Backend:
    t0 = time.perf_counter()
    if kind == "inline":
        return InlineBackend()
    if kind != "ray":
        raise TiersweepError(f"unknown backend {kind!r}: expected ray or inline")
    b = RayBackend(address=address, cpus=cpus)
    b.startup_s = time.perf_counter() - t0
    return b
