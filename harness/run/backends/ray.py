"""Ray tasks: a local Ray instance, or an existing cluster by address."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from harness.errors import InputError, RayStartError, TiersweepError
from harness.run.backends.base import Backend, TaskFailed


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


# A local start under load: Ray's own wait for the raylet to register is 30 s
# in Python (fixed) and its core worker's (RAY_raylet_start_wait_time_s) is
# shorter; a start that still fails is retried after a pause that grows.
START_ATTEMPTS = 3
START_BACKOFF_S = 3.0
LOADED_WAIT_S = 120
# The first task must run within this (a worker that dies at start, or cannot
# register, shows here rather than as a hang in the middle of a run).
FIRST_TASK_TIMEOUT_S = 120.0


def loaded() -> bool:
    """More runnable processes than CPUs over the last minute."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:  # pragma: no cover - no load average on this system
        return False


def ray_log_dir() -> str:
    """Where a local Ray session writes its logs (Ray's default temp folder)."""
    return os.path.join(os.environ.get("RAY_TMPDIR", "/tmp/ray"), "session_latest", "logs")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _ping() -> int:
    return os.getpid()


def start_local(ray: Any, attempts: int = START_ATTEMPTS, backoff_s: float = START_BACKOFF_S,
                sleep: Callable[[float], None] = time.sleep, **init_kw: Any) -> int:
    """`ray.init(**init_kw)` and one task run on a worker, tried `attempts`
    times with a growing pause (longer on a loaded machine); a session half
    started is shut down before the next try. Returns the attempts taken;
    else one line: what failed, Ray's log folder, what to try (exit 3)."""
    if loaded():  # the raylet and the first worker register late on a busy machine
        os.environ.setdefault("RAY_raylet_start_wait_time_s", str(LOADED_WAIT_S))
        os.environ.setdefault("RAY_worker_register_timeout_seconds", str(LOADED_WAIT_S))
    what = "ray.init"
    for attempt in range(1, attempts + 1):
        what = "ray.init"
        try:
            ray.init(**init_kw)
            what = "the first worker"
            ray.get(ray.remote(num_cpus=0)(_ping).remote(), timeout=FIRST_TASK_TIMEOUT_S)
            return attempt
        except Exception as exc:  # noqa: BLE001 - Ray raises plain Exception on a start timeout
            last = exc
            with contextlib.suppress(Exception):
                ray.shutdown()
        if attempt < attempts:
            sleep(backoff_s * attempt * (2 if loaded() else 1))
    failed = "did not start" if what == "ray.init" else "started but its first worker died"
    raise RayStartError(
        f"local Ray {failed} ({attempts} attempts; last: {_first_line(last)}); Ray's logs: "
        f"{ray_log_dir()}; try --backend inline (no Ray), or fewer --cpus (e.g. --cpus 1) "
        "on a busy machine")


# How long `--address` may take to answer before the run gives up (ray.init
# itself retries an unreachable GCS for minutes).
CONNECT_TIMEOUT_S = 30.0


def check_cpus(cpus: int | None) -> None:
    if cpus is not None and cpus < 1:
        raise InputError(f"cpus: expected at least 1 CPU, not {cpus}")


def check_reachable(address: str, timeout_s: float) -> None:
    """A TCP connection to the cluster's GCS (host:port, or ray://host:port for
    Ray Client) within timeout_s, else one line naming the address."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"address: {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379, the "
                         "head's `ray start --head --port`)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InputError(f"address: cannot reach a Ray cluster at {address} within "
                         f"{timeout_s:g} s ({why}); check that `ray start --head` runs there, "
                         "the port, and the firewall") from None


class RayBackend(Backend):
    """Ray tasks. Local Ray by default (127.0.0.1, `cpus` CPUs, no dashboard);
    with `address` (or RAY_ADDRESS) it connects to that cluster instead.

    On a cluster `cpus` caps how many chunks run at once; otherwise every CPU
    the cluster offers is used.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus: int | None = None,
                 max_retries: int = 3, runtime_env: dict | None = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 start_attempts: int = START_ATTEMPTS):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        address = address or os.environ.get("RAY_ADDRESS") or None
        check_cpus(cpus)
        if address is not None:
            check_reachable(address, connect_timeout_s)
        if address is None:
            _local_ray_env()
        import ray

        self._ray = ray
        self.address = address
        self._owns = False
        self.start_attempts = 0
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
            self.start_attempts = start_local(
                ray, attempts=start_attempts, address="local", num_cpus=ncpu, include_dashboard=False,
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
        self.max_retries = max_retries
        self._remote: dict[Callable, Any] = {}

    def put(self, obj: Any) -> Any:
        return self._ray.put(obj)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        remote = self._remote.get(fn)
        if remote is None:
            # max_retries: a task whose worker process died (killed, lost node,
            # out of memory) is run again elsewhere; retry_exceptions covers
            # MemoryError raised inside the task. The function reports its own
            # errors per evaluation (retrying those is pointless).
            remote = self._remote[fn] = self._ray.remote(
                num_cpus=1, max_retries=self.max_retries, retry_exceptions=[MemoryError])(fn)
        return remote.remote(*args)

    def wait(self, tasks: list, timeout: float | None) -> tuple[list, list]:
        if not tasks:
            return [], []
        done, pending = self._ray.wait(tasks, num_returns=1, timeout=timeout)
        if done and pending:
            more, pending = self._ray.wait(pending, num_returns=len(pending), timeout=0)
            done += more
        return done, pending

    def result(self, task: Any) -> Any:
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
