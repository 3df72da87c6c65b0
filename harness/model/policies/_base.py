"""The policy interface: a policy schedules its threads on the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod

from harness.config import PolicyConfig


class Policy(ABC):
    """Base class of promotion policies.

    ``start`` schedules the policy's threads with ``sim.schedule``; the hooks
    tell it about processes starting and exiting and rates changing. Per-page
    decisions live in ``_rule_*`` methods so that the per-page reference
    implementation can replace exactly those.
    """

    name = "base"

    def __init__(self, cfg: PolicyConfig):
        self.cfg = cfg

    @abstractmethod
    def start(self, sim) -> None:
        """Schedule the policy's first events."""

    def on_mm_start(self, sim, mm) -> None:  # noqa: B027 - optional hook
        pass

    def on_mm_exit(self, sim, mm) -> None:  # noqa: B027 - optional hook
        pass

    def on_phase(self, sim, segment) -> None:  # noqa: B027 - optional hook
        pass

    def queue_length(self) -> int:
        return 0

    def mm_knobs(self, sim) -> tuple[list, list]:
        """Per-mm (scan_period_ms, scan_size_mb) for the time series."""
        return [], []
