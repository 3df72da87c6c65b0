"""The event core: a time-ordered heap of callbacks (the shape of SimPy's core.py).

Threads of the model (the scanner, the migrator, NUMA hint-fault processing,
the closed-loop step, the sampler) are callbacks that reschedule themselves.
Times are integer microseconds. At equal times events run in priority order,
then in the order they were scheduled. A callback may defer work to the end
of its event (``defer``: kswapd's wake-ups).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

# Event priorities at equal times: rates change first, then processes start
# and exit, then policy threads, then the sampler sees the result.
PRIO_PHASE, PRIO_MM_START, PRIO_MM_EXIT, PRIO_RUNTIME, PRIO_POLICY, PRIO_SAMPLE = 0, 1, 2, 3, 5, 9

Callback = Callable[[], None]


class EventCore:
    """The clock (``now``), the horizon (``end_us``) and the event heap."""

    def __init__(self, end_us: int, thread_quantum_us: int = 10000):
        self.now = 0
        self.end_us = end_us
        self.stopped = False
        self.thread_quantum_us = thread_quantum_us
        self._heap: list[tuple[int, int, int, Callback]] = []
        self._threads: list[tuple[int, int, int, Callback]] = []  # kernel threads' chunks
        self._seq = itertools.count(1)  # the order of scheduling, at equal times and priorities
        self._deferred: list[Callback] = []  # to run at the end of the current event

    def schedule(self, t: int, prio: int, fn: Callback, thread: bool = False) -> None:
        """Run fn at time t (events past the horizon are dropped). ``thread``:
        the next chunk of a kernel thread that takes time; other threads'
        chunks do not bound it (see ``thread_bound``)."""
        if t <= self.end_us:
            heapq.heappush(self._threads if thread else self._heap,
                           (int(t), prio, next(self._seq), fn))

    def defer(self, fn: Callback) -> None:
        """Run fn once at the end of the current event (after its callback,
        before the next event): what the event woke that runs after it."""
        self._deferred.append(fn)

    def peek(self) -> float:
        """Time of the next event (infinity when none is left)."""
        return min(self._heap[0][0] if self._heap else float("inf"),
                   self._threads[0][0] if self._threads else float("inf"))

    def thread_bound(self) -> float:
        """How far a kernel thread's chunk may run from now: to the next event
        that is not another thread's chunk, at most thread_quantum_us ahead."""
        bound = self.now + self.thread_quantum_us
        heap = self._heap
        return heap[0][0] if heap and heap[0][0] < bound else bound

    def _pop(self) -> tuple[int, int, int, Callback]:
        heap, threads = self._heap, self._threads
        if threads and (not heap or threads[0] < heap[0]):
            return heapq.heappop(threads)
        return heapq.heappop(heap)

    def step(self, before: Callable[[int], None]) -> None:
        """Process the next event: ``before(t)`` sees the clock still at the
        previous event (it runs only when the clock moves), then the clock
        moves to t, the callback runs and what it deferred."""
        t, _, _, fn = self._pop()
        if t != self.now:
            before(t)
            self.now = t
        fn()
        self._run_deferred()

    def _run_deferred(self) -> None:
        deferred = self._deferred
        while deferred:
            fns = deferred[:]
            deferred.clear()
            for fn in fns:
                fn()

    def stop(self, end_us: int) -> None:
        """End the run at end_us (e.g. the closed-loop work completed)."""
        self.end_us = end_us
        self.stopped = True

    def run(self, before: Callable[[int], None], after: Callback | None = None) -> None:
        """Process events until none is left or stop() was called, as step()
        does; ``after`` (if given) runs after every event and what it deferred."""
        # step and _pop inlined: this loop runs once an event.
        heap, threads, pop, deferred = self._heap, self._threads, heapq.heappop, self._deferred
        now = self.now
        while (heap or threads) and not self.stopped:
            if threads and (not heap or threads[0] < heap[0]):
                t, _, _, fn = pop(threads)
            else:
                t, _, _, fn = pop(heap)
            if t != now:
                before(t)
                self.now = now = t
            fn()
            if deferred:
                self._run_deferred()
            if after is not None:
                after()
