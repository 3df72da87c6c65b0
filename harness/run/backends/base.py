"""The interface the search code sees: an executor of chunk functions.

A backend is handed the function it runs, with its arguments, at submission
(like ``concurrent.futures.Executor.submit``); it knows nothing of what the
function does. The runner hands it ``harness.run.worker.run_chunk``.

    put(obj) -> handle                 share a large object once (Ray: the object store);
                                       a handle passed as an argument arrives as the object
    submit(fn, *args) -> task          run fn(*args) somewhere
    wait(tasks, timeout) -> (done, pending)
    result(task) -> fn's return value  (raises TaskFailed)
    cancel(task)
    slots                              how many tasks may run at once
    close()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TaskFailed(Exception):
    """A task failed as a whole (its worker died for good, or it was cancelled)."""


class Backend:
    slots: int = 1
    name: str = "backend"

    def put(self, obj: Any) -> Any:
        return obj

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def wait(self, tasks: list, timeout: float | None) -> tuple[list, list]:
        raise NotImplementedError

    def result(self, task: Any) -> Any:
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
