"""The policy interface: a policy schedules its threads on the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from harness.config import PolicyConfig

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim
    from harness.model.workloads import Segment


class Policy(ABC):
    """Base class of promotion policies.

    A policy is made from its config, then handed the run's ``Sim`` in
    ``start``; from there on it acts only through events it schedules with
    ``sim.schedule`` and through the hooks below, which the engine calls at
    the time of the change (``sim.t``), before any policy event of that time.
    It reads and changes memory through ``sim.mem``, the accessed bits
    through ``sim.bits``, and accounts its work in ``sim.counters`` and
    ``sim.cpu_ns``.

    Per-page decisions live in ``_rule_*`` methods so that the per-page
    reference implementation (``reference.py``) can replace exactly those.
    Per-mm state is the policy's own, keyed by ``mm.spec.index``.
    """

    name = "base"
    # Policies running beside this one (make_policy sets numa_balancing=1's).
    beside: tuple[Policy, ...] | list[Policy] = ()
    memory_tiering = False  # NUMA balancing's memory-tiering mode (kswapd's PROMO watermark)

    def __init__(self, cfg: PolicyConfig):
        self.cfg = cfg

    @abstractmethod
    def start(self, sim: Sim) -> None:
        """Called once at t = 0, after the engine scheduled phases, process
        starts and samples, before the first event runs. Keep ``sim`` and
        schedule the policy's threads (``sim.schedule(t, prio, fn)``)."""

    def on_mm_start(self, sim: Sim, mm: MMState) -> None:  # noqa: B027 - optional hook
        """Called when process ``mm`` starts, right after its pages were placed
        (``mm.alive`` is True). Register its per-mm state here."""

    def on_mm_exit(self, sim: Sim, mm: MMState) -> None:  # noqa: B027 - optional hook
        """Called when process ``mm`` exits, before its pages are freed
        (``mm.alive`` is already False): drop its queued work here."""

    def on_phase(self, sim: Sim, segment: Segment) -> None:  # noqa: B027 - optional hook
        """Called after the access rates of ``segment``'s pages changed (a new
        phase; ``sim.mem.rate`` holds the new ones)."""

    def queue_length(self) -> int:
        """Pending promotion work, for the time series (each sample)."""
        return 0

    def mm_knobs(self, sim: Sim) -> tuple[list, list]:
        """Per-mm (scan_period_ms, scan_size_mb) for the time series (each
        sample), one entry per ``sim.mms``, None for a process not alive."""
        return [], []
