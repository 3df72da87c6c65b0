"""Execution backends: where tasks (chunks of evaluations) run.

``RayBackend`` (a local Ray instance, or an existing cluster by address) and
``InlineBackend`` (in this process, one task at a time). A backend is handed
the function it runs (see ``base``); it imports nothing of the runner.
"""

from __future__ import annotations

import time

from harness.errors import InputError
from harness.run.backends.base import Backend, TaskFailed
from harness.run.backends.inline import InlineBackend
from harness.run.backends.ray import RayBackend

__all__ = ["Backend", "InlineBackend", "RayBackend", "TaskFailed", "make_backend"]


def make_backend(kind: str = "ray", address: str | None = None, cpus: int | None = None,
                 connect_timeout_s: float | None = None) -> Backend:
    t0 = time.perf_counter()
    if kind == "inline":
        return InlineBackend()
    if kind != "ray":
        raise InputError(f"backend: unknown {kind!r}; expected ray or inline")
    kw = {} if connect_timeout_s is None else {"connect_timeout_s": connect_timeout_s}
    b = RayBackend(address=address, cpus=cpus, **kw)
    b.startup_s = time.perf_counter() - t0
    return b
