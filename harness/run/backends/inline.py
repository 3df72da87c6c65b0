"""Runs tasks in this process, one at a time (small unit tests, debugging)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.run.backends.base import Backend, TaskFailed


class InlineBackend(Backend):
    """Runs each task in this process when waited for; deterministic order."""

    name = "inline"

    def __init__(self, slots: int = 1):
        self.slots = slots

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return _Thunk(fn, args)

    def wait(self, tasks: list, timeout: float | None) -> tuple[list, list]:
        if not tasks:
            return [], []
        first = tasks[0]
        first.run()
        return [first], list(tasks[1:])

    def result(self, task: Any) -> Any:
        if task.cancelled:
            raise TaskFailed("cancelled")
        return task.run()


class _Thunk:
    def __init__(self, fn: Callable[..., Any], args: tuple):
        self.fn, self.args = fn, args
        self.out = None
        self.done = False
        self.cancelled = False

    def run(self) -> Any:
        if not self.done and not self.cancelled:
            self.out = self.fn(*self.args)
            self.done = True
        return self.out
