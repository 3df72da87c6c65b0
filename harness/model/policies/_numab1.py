"""NUMA balancing's normal mode (numa_balancing=1) running beside a policy.

The RFC's published V1 runs had it on (MODEL.md: kmmscand with numab=1,
and numab=1 alone, "no tier promotion"). task_numa_work marks a budget of
PTEs PROT_NONE a pass, as in tiering mode but over every page: in normal
mode change_prot_numa does not skip top-tier pages (the skip is for
!NUMA_BALANCING_NORMAL). The first access after marking takes a hint fault,
paid by the faulting thread (hint_fault_us); nothing is promoted, as
published. Marking and fault processing are NUMAB2's (_numab2.py), with
marks_top_tier set and the fault rule replaced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.model.policies._numab2 import Numab2Policy
from harness.model.policies._numab_scan import SCAN_DELAY_MS

if TYPE_CHECKING:
    from harness.model.engine import MMState, Sim


class Numab1Hinting(Numab2Policy):
    """Marking and hint faults of numa_balancing=1, beside the run's policy
    (the engine calls its hooks after the policy's)."""

    name = "numab1"
    memory_tiering = False  # normal mode
    marks_top_tier = True  # normal mode: change_prot_numa skips no tier

    def on_mm_start(self, sim: Sim, mm: MMState) -> None:
        # Its own scan delay: the policy's first_scan_delay_ms is kmmscand's knob.
        super().on_mm_start_at(sim, mm, sim.t + SCAN_DELAY_MS * 1000)

    def _count_pass(self, walked: int) -> None:
        """Not the policy's scans: the run's scan counters stay the policy's
        (the marking's cost is in numab_task_work_s)."""

    def _rule_faults(self, pages: np.ndarray, ft: np.ndarray, t: int) -> None:
        """Each fault costs its thread hint_fault_us; no page moves. Normal
        mode records each fault's locality for the mm's task (task_numa_fault:
        local when the page is on the faulting CPU's node; a slow-tier page,
        on a node without CPUs, is remote), which update_task_scan_period
        reads at the next placement."""
        n = len(pages)
        self.sim.counters.hint_faults += n
        self.sim.cpu_ns.app_fault += n * self.sim.costs.hint_fault_us * 1000
        if n == 0:
            return
        self._record_faults(pages, self.sim.mem.node[pages] == self._cpu_nodes(n))


__all__ = ["Numab1Hinting"]
