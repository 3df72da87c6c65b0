"""The event core's loop: what a callback defers runs at the end of its
event, before the next one; ``before`` runs when the clock moves."""

from __future__ import annotations

from harness.model.core import EventCore


def test_deferred_work_runs_after_its_event_and_before_the_next():
    core, log = EventCore(100), []

    def first():
        log.append(("first", core.now))
        core.defer(lambda: log.append(("deferred", core.now)))
        core.defer(lambda: log.append(("deferred 2", core.now)))
        core.schedule(core.now, 0, lambda: log.append(("same time", core.now)))

    core.schedule(5, 0, first)
    core.schedule(5, 1, lambda: log.append(("second", core.now)))
    core.schedule(7, 0, lambda: log.append(("later", core.now)))
    core.run(lambda t: log.append(("before", t)), lambda: log.append(("after", core.now)))
    assert log == [("before", 5), ("first", 5), ("deferred", 5), ("deferred 2", 5),
                   ("after", 5), ("same time", 5), ("after", 5), ("second", 5), ("after", 5),
                   ("before", 7), ("later", 7), ("after", 7)]


def test_before_sees_each_clock_move_once_and_the_previous_time():
    core, seen = EventCore(100), []
    for t in (0, 3, 3, 9, 9, 9, 20):
        core.schedule(t, 0, lambda: None)
    core.run(lambda t: seen.append((core.now, t)))
    assert seen == [(0, 3), (3, 9), (9, 20)]
