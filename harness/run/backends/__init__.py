"""Execution backends: where tasks (chunks of evaluations) run.

``RayBackend`` (Ray tasks on a local Ray instance, or an existing cluster by
address), ``RayActorBackend`` (the same Ray, one long-lived actor per slot) and
``InlineBackend`` (in this process, one task at a time). A backend is handed
the function it runs (see ``base``); it imports nothing of the runner.
"""

from __future__ import annotations

import time

from harness.errors import InputError
from harness.run.backends.base import Backend, TaskFailed
from harness.run.backends.inline import InlineBackend
from harness.run.backends.ray import RayBackend
from harness.run.backends.ray_actors import RayActorBackend

__all__ = ["KINDS", "Backend", "InlineBackend", "RayActorBackend", "RayBackend", "TaskFailed",
           "make_backend"]


# Names accepted by --backend, and what each makes.
KINDS = {"ray": RayBackend, "ray-actors": RayActorBackend, "inline": InlineBackend}


def make_backend(kind: str = "ray", address: str | None = None, cpus: int | None = None,
                 connect_timeout_s: float | None = None) -> Backend:
    t0 = time.perf_counter()
    if kind == "inline":
        return InlineBackend()
    if kind not in KINDS:
        raise InputError(f"backend: unknown {kind!r}; expected one of {', '.join(KINDS)}")
    kw = {} if connect_timeout_s is None else {"connect_timeout_s": connect_timeout_s}
    b = KINDS[kind](address=address, cpus=cpus, **kw)
    b.startup_s = time.perf_counter() - t0
    return b
