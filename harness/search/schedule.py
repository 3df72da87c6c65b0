"""When trials start: in generations (the default) or asynchronously.

``generations``: ask a generation of ``study.generation_size`` trials (a fixed
k, not the number of CPUs), run all their evaluations, tell the results in
trial-number order, and only then ask the next generation. Every ask sees the
same told trials whatever the machine, its load or the completion order, so
a given experiment file and seed give the same trials and the same
recommendation on 1 CPU or 16. The price: the last evaluations of a
generation leave CPUs idle, and trials are pruned only by a multi-fidelity
study's rungs (harness.search.fidelity: a generation's rung ends before its
trials report, in trial-number order); the workload-prefix pruning of
``async`` depends on which reports arrived first.

``async``: whenever the scheduler has a free slot and nothing queued, ask
the next trial (no idle CPUs; the trial sequence follows completion order).
"""

from __future__ import annotations

from harness.search.driver import Driver


def run_loop(d: Driver) -> None:
    """The schedule of the study; interrupted or crashed, hand the trials in
    flight on (abandon)."""
    try:
        if d.defer:
            generations(d)
        else:
            asynchronous(d)
    except BaseException:
        d.abandon()
        raise


def asynchronous(d: Driver) -> None:
    while True:
        while d.sched.wants_work() and d.room() and d.time_left():
            d.start_trial()
        if not d.active:
            return
        step(d)


def generations(d: Driver) -> None:
    k = d.st.generation_size
    while d.room() and d.time_left():
        asked = 0
        while asked < k and d.room():
            d.start_trial()
            asked += 1
        while d.active or d.waiting:
            while d.active:
                step(d)
            d.advance()  # multi-fidelity: the generation's rung is over
        d.tell_pending()
    d.tell_pending()


def step(d: Driver) -> None:
    for ev, res in d.sched.step(timeout=0.5):
        d.on_result(ev, res)
    d.store.maybe_flush()
