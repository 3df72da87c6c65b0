"""Ray tasks: a local Ray instance, or an existing cluster by address."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from harness.errors import InputError, TiersweepError
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
                 connect_timeout_s: float = CONNECT_TIMEOUT_S):
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
