"""NUMA balancing's scan period as upstream (kernel/sched/fair.c): limits
scaled by the task's RSS, update_task_scan_period's steps, and the passes a
run makes with them."""

from __future__ import annotations

import pytest

from harness.config import from_dict
from harness.model import simulate
from harness.model.engine import Sim
from harness.model.policies import make_policy
from harness.model.policies._numab2 import (
    task_nr_scan_windows,
    task_scan_max,
    task_scan_min,
    update_task_scan_period,
)
from harness.model.reference import make_reference_sim

PAGE = 4096
GIB_PAGES = (1 << 30) // PAGE


def test_limits_of_an_8_gib_task():
    """8 GiB RSS, 256 MB windows: 32 windows. task_scan_min = max(1000 /
    (2560 / 256), 1000 / 32) = max(100, 31) = 100 ms; task_scan_max =
    60000 / 32 = 1875 ms."""
    w = task_nr_scan_windows(8 * GIB_PAGES, 256, PAGE)
    assert w == 32
    smin = task_scan_min(w, 256, 1000)
    assert smin == 100
    assert task_scan_max(w, smin, 60000) == 1875
    # A 100 MiB task is one window: the sysctls themselves.
    w1 = task_nr_scan_windows(100 * 256, 256, PAGE)
    assert (w1, task_scan_min(w1, 256, 1000), task_scan_max(w1, 1000, 60000)) == (1, 1000, 60000)
    assert task_nr_scan_windows(0, 256, PAGE) == 1  # an empty mm counts one window


def test_hand_derived_period_sequences_of_an_8_gib_task():
    """From task_scan_start = 100 ms, limits [100, 1875]:
    only remote faults (local + shared == 0): doubles, 200 400 800 1600 1875;
    all local and private: ps_ratio 10, +3 slots of ceil(period / 10):
    100+30 = 130, 130+39 = 169, 169+3*17 = 220, 220+66 = 286;
    private but 4 of 10 local, half shared: lr 4, ps 5 -> -(7-5) slots:
    1000 -> 800 -> 640; a failed migration doubles whatever the ratios."""
    smin, smax = 100, 1875
    seq, p = [], 100
    for _ in range(5):
        p = update_task_scan_period(p, 0, 10, 10, 0, 0, smin, smax)
        seq.append(p)
    assert seq == [200, 400, 800, 1600, 1875]
    seq, p = [], 100
    for _ in range(4):
        p = update_task_scan_period(p, 10, 0, 10, 0, 0, smin, smax)
        seq.append(p)
    assert seq == [130, 169, 220, 286]
    assert update_task_scan_period(1000, 4, 6, 5, 5, 0, smin, smax) == 800
    assert update_task_scan_period(800, 4, 6, 5, 5, 0, smin, smax) == 640
    assert update_task_scan_period(150, 4, 6, 5, 5, 0, smin, smax) == 120
    assert update_task_scan_period(110, 4, 6, 5, 5, 0, smin, smax) == smin  # clamped
    assert update_task_scan_period(130, 10, 0, 10, 0, 1, smin, smax) == 260


def _cfg(policy: dict, pages: int = 2048, duration_s: float = 3.0):
    mb = pages * PAGE / 2**20
    return from_dict({
        "duration_s": duration_s,
        "platform": {"nodes": [{"id": 0, "tier": "fast", "capacity_gb": 0.5},
                               {"id": 1, "tier": "slow", "capacity_gb": 1}]},
        "workload": {"kind": "uniform", "size_gb": mb / 1024, "placement": "slow",
                     "access_rate": 1e5},
        "policy": policy,
    }, "test")


def test_numab2_passes_at_task_scan_start():
    """8 MiB on the slow tier, 1 MB windows: 8 windows, task_scan_min =
    max(1000 / 2560 -> 0, 1000 / 8) = 125 ms. Tiering mode records no fault,
    so the period stays there: passes at 1000, 1125, ..., 3000 ms = 17."""
    cfg = _cfg({"kind": "numab2", "numab_scan_size_mb": 1})
    sim = Sim(cfg, make_policy(cfg.policy))
    m = sim.run()
    assert m["mm_scans"] == 17
    assert sim.policy.slots[0].scan_period == 125
    # 1 MB budget, 2 MB chunks: one change_prot_numa range a pass, so at most
    # one flush a pass; the promotions of PROT_NONE pages add none.
    assert m["promotions"] > 17
    assert 1 <= sim.counters.shootdowns <= 17


@pytest.mark.parametrize("impl", ["vectorized", "reference"])
def test_numab1_remote_faults_double_the_period(impl):
    """numab=1 beside no policy, every page on the CXL node: every recorded
    fault is remote, so each placement doubles the period from 125 ms toward
    task_scan_max = 60000 / 8 = 7500 ms. 8 MiB in 1 MB passes: a sequence
    takes 8 passes (the budget counts updated chunks) and the placements
    give 250, 500, ... The run's last period is a power-of-two multiple of
    125, above it, and the same for both implementations."""
    cfg = _cfg({"kind": "none", "numa_balancing": 1, "numab_scan_size_mb": 1},
               pages=2048, duration_s=12.0)
    sim = (make_reference_sim(cfg) if impl == "reference"
           else Sim(cfg, make_policy(cfg.policy)))
    sim.run()
    period = sim.companions[0].slots[0].scan_period
    assert period > 125 and period % 125 == 0 and (period // 125) & (period // 125 - 1) == 0
    assert period <= 7500


def test_fixed_period_knob_keeps_the_old_schedule():
    cfg = _cfg({"kind": "numab2", "numab_scan_size_mb": 1, "numab_scan_period_ms": 1000})
    m = simulate(cfg).metrics
    assert m["mm_scans"] == 3  # 1000, 2000, 3000 ms
