"""The simulation: ``Sim`` composes the parts of one run and is what policies see.

- ``core`` (core.py): the clock and the event heap;
- ``mem`` (memory.py): nodes, page placement, moves, kswapd, rates by node;
- ``bits`` (bits.py ``PageBits``): the pages' accessed bits;
- ``counters``, ``cpu_ns`` (counters.py): event counts and CPU time;
- ``metrics`` (metrics.py): hit accounting, time series, the metrics dict;
- ``loop`` (runtime.py ``ClosedLoop``): real time to work time, or None.

``Sim`` itself only wires them: processes start and exit, phases change rates,
the run loop. Per-page work is vectorized with numpy over page ranges and
index arrays; Python loops run per event only. Page-level rules that have a
per-page reference twin (``reference.py``) live in methods whose names start
with ``_rule_`` (and in ``Memory``'s page helpers); ``memory_cls`` picks the
memory component so that the reference can swap in its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness.config import RunConfig
from harness.model import runtime
from harness.model.bits import PageBits
from harness.model.core import (
    PRIO_MM_EXIT,
    PRIO_MM_START,
    PRIO_PHASE,
    PRIO_RUNTIME,
    PRIO_SAMPLE,
    EventCore,
)
from harness.model.counters import Counters, CpuTime
from harness.model.memory import Memory
from harness.model.metrics import Metrics, objective, runtime_metrics
from harness.model.workloads import US, Layout, MMSpec, Segment, build_layout


@dataclass
class MMState:
    """One process (mm) of the run. Policies keep their per-mm state
    themselves, keyed by ``spec.index`` (the position in ``Sim.mms``)."""

    spec: MMSpec
    alive: bool = False
    started: bool = False


class PolicyHooks(Protocol):
    """What the engine knows of a policy (policies/_base.py ``Policy`` is the
    base class that implements it): its hooks, called at the time of the
    change, and the policies that run beside it (numa_balancing=1's hinting),
    whose hooks the engine calls after its own."""

    name: str
    beside: Sequence[PolicyHooks]
    # NUMA balancing's memory-tiering mode (numa_balancing=2): kswapd
    # balances a node to its PROMO watermark, else to HIGH.
    memory_tiering: bool

    def start(self, sim: Sim) -> None: ...

    def on_mm_start(self, sim: Sim, mm: MMState) -> None: ...

    def on_mm_exit(self, sim: Sim, mm: MMState) -> None: ...

    def on_phase(self, sim: Sim, segment: Segment) -> None: ...

    def queue_length(self) -> int: ...

    def mm_knobs(self, sim: Sim) -> tuple[list, list]: ...


class Sim:
    """State of one run. Policies read and change it through its parts."""

    memory_cls: type[Memory] = Memory

    def __init__(self, cfg: RunConfig, policy: PolicyHooks, layout: Layout | None = None):
        self.loop: runtime.ClosedLoop | None = None
        if cfg.runtime.enabled:
            cfg, tau_total = runtime.resolve(cfg)
            self.loop = runtime.ClosedLoop(cfg, tau_total)
        self.cfg = cfg
        self.policy = policy
        # Policies running beside it, hooks called after its own.
        self.companions: list[PolicyHooks] = list(policy.beside)
        self.costs = cfg.costs
        self.layout = layout or build_layout(cfg)
        self.core = EventCore(int(round(cfg.duration_s * US)), cfg.thread_quantum_us)
        self.schedule = self.core.schedule
        self.bits = PageBits(self.layout.segments, self.core, self.loop)
        self.counters = Counters()
        self.cpu_ns = CpuTime()
        self.mem = self.memory_cls(cfg, self.layout, self.bits, self.counters, self.cpu_ns,
                                   memory_tiering=policy.memory_tiering)
        self.metrics = Metrics(self.mem, self.counters, self.cpu_ns)
        self.series = self.metrics.series
        self.mms = [MMState(m) for m in self.layout.mms]
        self.mm_lo = np.array([m.lo for m in self.layout.mms], dtype=np.int64)  # first pages
        # Test hook: called with the Sim after every event (and the kswapd
        # runs it woke); set before run().
        self.after_event: Callable[[Sim], None] | None = None

    # -------------------------------------------------- what policies read
    @property
    def t(self) -> int:
        """Now, in us."""
        return self.core.now

    @property
    def end_us(self) -> int:
        return self.core.end_us

    @property
    def n_pages(self) -> int:
        return self.mem.n_pages

    @property
    def page_bytes(self) -> int:
        return self.mem.page_bytes

    @property
    def capacity(self) -> np.ndarray:
        return self.mem.capacity

    @property
    def rt(self) -> runtime.RuntimeState | None:
        return None if self.loop is None else self.loop.state

    def thread_bound(self) -> float:
        """How far a kernel thread that takes time may run its chunk from now
        (EventCore.thread_bound)."""
        return self.core.thread_bound()

    def work_now(self):
        """The access models' clock: real time, or nominal work time in closed loop."""
        return self.bits.work_now()

    def mm_of(self, pages: np.ndarray) -> np.ndarray:
        """Index in ``mms`` of the process owning each page."""
        return np.searchsorted(self.mm_lo, pages, side="right") - 1

    # ------------------------------------------------------------ the run
    def run(self) -> dict:
        wall0 = time.perf_counter()
        for seg in self.layout.segments:
            for k, t in enumerate(seg.phase_times):
                self.schedule(t, PRIO_PHASE, lambda s=seg, k=k, t=t: self._enter_phase(s, k, t))
        for mm in self.mms:
            self.schedule(mm.spec.start_us, PRIO_MM_START, lambda m=mm: self._mm_start(m))
            if mm.spec.exit_us is not None:
                self.schedule(mm.spec.exit_us, PRIO_MM_EXIT, lambda m=mm: self._mm_exit(m))
        step = self.cfg.sample_ms * 1000
        for t in range(step, self.end_us + 1, step):
            self.schedule(t, PRIO_SAMPLE, self._sample)
        if self.loop is not None:
            self.schedule(0, PRIO_RUNTIME, self._runtime_step)
        for p in (self.policy, *self.companions):
            p.start(self)
        # Open loop: the metrics' own advance at speed 1, one call less an
        # event; no call after each event without the test hook.
        self.core.run(self.metrics.advance if self.loop is None else self._advance,
                      None if self.after_event is None else self._after_event)
        self._advance(self.end_us)
        self.core.now = self.end_us
        return self.metrics.finish(self.policy.name, self.end_us, runtime_metrics(self.loop),
                                   time.perf_counter() - wall0)

    def _advance(self, t: int) -> None:
        self.metrics.advance(t, 1.0 if self.loop is None else self.loop.speed)

    def _after_event(self) -> None:
        self.after_event(self)

    def _runtime_step(self) -> None:
        """Close the loop: account the elapsed step, then set the next speed."""
        mem = self.mem
        nxt = self.loop.step(self.t, mem.node_rate, mem.total_rate, self.cpu_ns.app,
                             self.counters.shootdowns)
        if nxt is None:
            self.core.stop(self.loop.end_us())
        else:
            self.schedule(nxt, PRIO_RUNTIME, self._runtime_step)

    def _enter_phase(self, seg: Segment, k: int, t: int) -> None:
        rates = seg.enter_phase(k, t)
        placed = any(mm.started for mm in self.mms if mm.spec.segment == seg.index)
        self.mem.set_rates(seg, rates, placed)
        if seg.access.form == "rate":  # one array of rates per page: Memory's
            seg.access.rate = self.mem.rate[seg.lo:seg.hi]
        for p in (self.policy, *self.companions):
            p.on_phase(self, seg)

    def _mm_start(self, mm: MMState) -> None:
        self.mem.place(mm.spec)
        mm.alive = mm.started = True
        for p in (self.policy, *self.companions):
            p.on_mm_start(self, mm)

    def _mm_exit(self, mm: MMState) -> None:
        mm.alive = False
        for p in (self.policy, *self.companions):
            p.on_mm_exit(self, mm)
        self.mem.release(mm.spec)

    def _sample(self) -> None:
        self.metrics.sample(self.t, self.policy.queue_length(), self.policy.mm_knobs(self))


__all__ = ["MMState", "PolicyHooks", "Sim", "objective"]
