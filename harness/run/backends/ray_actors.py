"""Ray actors: one long-lived worker process per slot.

Beside ``RayBackend``'s tasks, this backend keeps ``slots`` actors alive for
the whole run and sends each chunk to one of them. An actor keeps what its
process has loaded (compiled kernels, read traces, the object store's shared
arrays it already fetched) from one chunk to the next. Ray does the fault
handling: a dead actor is restarted (``max_restarts``) and the chunk it was
running is sent again (``max_task_retries``).

Chunks go to the actor with the fewest unfinished chunks (lowest index on a
tie), so a burst of submissions spreads over the actors; Ray queues an actor's
calls in submission order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.run.backends.ray import RayBackend


class _Executor:
    """The actor: runs whatever function it is handed."""

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class RayActorBackend(RayBackend):
    name = "ray-actors"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        actor_cls = self._ray.remote(num_cpus=1, max_restarts=-1,
                                     max_task_retries=self.max_retries)(_Executor)
        self._actors = [actor_cls.remote() for _ in range(self.slots)]
        self._load = [0] * self.slots
        self._owner: dict[Any, int] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        i = min(range(self.slots), key=lambda k: (self._load[k], k))
        ref = self._actors[i].call.remote(fn, *args)
        self._load[i] += 1
        self._owner[ref] = i
        return ref

    def _finished(self, ref: Any) -> None:
        i = self._owner.pop(ref, None)
        if i is not None:
            self._load[i] -= 1

    def result(self, task: Any) -> Any:
        try:
            return super().result(task)
        finally:
            self._finished(task)

    def cancel(self, task: Any) -> None:
        super().cancel(task)
        self._finished(task)

    def close(self) -> None:
        for a in getattr(self, "_actors", []):
            self._ray.kill(a)
        self._actors = []
        super().close()

    def describe(self) -> dict:
        return {**super().describe(), "backend": self.name, "actors": len(self._actors)}
