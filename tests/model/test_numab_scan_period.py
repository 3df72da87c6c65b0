"""NUMA balancing's scan period as upstream (kernel/sched/fair.c): limits
scaled by the task's RSS, update_task_scan_period's steps, and the passes a
run makes with them."""

from __future__ import annotations

import numpy as np
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


def _cfg(policy: dict, pages: int = 2048, duration_s: float = 3.0, placement: str = "slow"):
    mb = pages * PAGE / 2**20
    return from_dict({
        "duration_s": duration_s,
        "platform": {"nodes": [{"id": 0, "tier": "fast", "capacity_gb": 0.5},
                               {"id": 1, "tier": "slow", "capacity_gb": 1}]},
        "workload": {"kind": "uniform", "size_gb": mb / 1024, "placement": placement,
                     "access_rate": 1e5},
        "policy": policy,
    }, "test")


def test_numab2_promotions_lengthen_the_period():
    """8 MiB on the slow tier, 1 MB windows: 8 windows, task_scan_min =
    max(1000 / 2560 -> 0, 1000 / 8) = 125 ms = task_scan_start. The fast node
    has plenty free, so each fault promotes, and do_numa_page records it on
    the new top-tier node: local, private. The placements that follow
    recorded faults give 125 + 3 x 13 = 164, then 164 + 3 x 17 = 215; once all
    pages are on the top tier nothing is marked or recorded and it stays:
    fewer passes than the 17 a fixed 125 ms would make."""
    cfg = _cfg({"kind": "numab2", "numab_scan_size_mb": 1})
    sim = Sim(cfg, make_policy(cfg.policy))
    m = sim.run()
    assert sim.policy.slots[0].scan_period == 215
    assert m["mm_scans"] < 17
    # 1 MB budget, 2 MB chunks: one change_prot_numa range a pass, so at most
    # one flush a pass; the promotions of PROT_NONE pages add none.
    assert m["promotions"] > 17
    assert 1 <= sim.counters.shootdowns <= m["mm_scans"]


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


def _numab2_after_start(impl: str, placement: str):
    """numab2 on 8 MiB (8 x 1 MB windows: limits [125, 7500] ms), run to 0.5 s:
    its mm has started, no pass has marked anything yet. The period is set to
    task_scan_start = task_scan_min = 125 ms, as the first pass would."""
    cfg = _cfg({"kind": "numab2", "numab_scan_size_mb": 1}, duration_s=0.5, placement=placement)
    sim = make_reference_sim(cfg) if impl == "reference" else Sim(cfg, make_policy(cfg.policy))
    sim.run()
    sim.policy.slots[0].scan_period = 125
    return sim


@pytest.mark.parametrize("impl", ["vectorized", "reference"])
def test_numab2_top_tier_local_faults_lengthen_the_period(impl):
    """Tiering mode records a top-tier page's fault (task_numa_fault returns
    early only for a slow-tier page): 10 faults on pages of the fast node, the
    only CPU node, are 10 local private faults; update_task_scan_period then
    gives ps_ratio 10 -> +3 slots of ceil(125 / 10) = 13: 125 + 39 = 164."""
    sim = _numab2_after_start(impl, "fast")
    pol, slot = sim.policy, sim.policy.slots[0]
    pages = np.arange(10, dtype=np.int64)
    assert (sim.mem.node[pages] == 0).all()
    pol._rule_faults(pages, np.full(10, float(sim.t)), sim.t)
    assert (slot.local, slot.remote) == (10, 0)
    assert sim.counters.promotions == 0
    pol._placement(sim.mms[0], slot)
    assert slot.scan_period == 164 and (slot.local, slot.remote) == (0, 0)


@pytest.mark.parametrize("impl", ["vectorized", "reference"])
def test_numab2_slow_tier_faults_record_nothing(impl):
    """Faults on slow-tier pages that are not promoted (the fast node has no
    free page: under its high watermark) are not recorded, so
    task_numa_placement does not run and the period stays 125 ms; a promoted
    page's fault is recorded on its new node, local."""
    sim = _numab2_after_start(impl, "slow")
    pol, slot = sim.policy, sim.policy.slots[0]
    pages = np.arange(10, dtype=np.int64)
    assert (sim.mem.node[pages] == 1).all()
    free = int(sim.mem.free[0])
    sim.mem.free[0] = 0
    pol._rule_faults(pages, np.full(10, float(sim.t)), sim.t)
    assert (slot.local, slot.remote) == (0, 0) and sim.counters.promotions == 0
    pol._placement(sim.mms[0], slot)
    assert slot.scan_period == 125
    sim.mem.free[0] = free  # plenty free: promoted at once
    pol._rule_faults(pages[:4], np.full(4, float(sim.t)), sim.t)
    assert sim.counters.promotions == 4 and (slot.local, slot.remote) == (4, 0)


def _closed_loop_numab2(threads: int, duration_s: float):
    """8 MiB on the slow tier in 1 MB windows (limits [125, 7500] ms), run by
    `threads` threads of the closed loop."""
    cfg = _cfg({"kind": "numab2", "numab_scan_size_mb": 1}, duration_s=duration_s)
    return cfg.replace({"runtime.enabled": True, "runtime.threads": threads,
                        "runtime.iterations": 1_000_000, "runtime.think_us": 1.0})


@pytest.mark.parametrize("impl", ["vectorized", "reference"])
@pytest.mark.parametrize(("threads", "start"), [(4, 1000), (1, 125)])
def test_worker_threads_start_at_scan_delay(impl, threads, start):
    """init_numa_balancing starts a task at scan_delay (1000 ms); only the
    exec'd main thread (node_stamp 0) takes task_scan_start (125 ms here) at
    its first tick, so a process whose cloned threads do the work marks
    8 x less often until its first placement. Run to the first pass (1 s)
    and just past it: one pass, the period as it starts."""
    cfg = _closed_loop_numab2(threads, 1.05)
    sim = make_reference_sim(cfg) if impl == "reference" else Sim(cfg, make_policy(cfg.policy))
    m = sim.run()
    assert m["mm_scans"] == 1
    assert sim.policy.slots[0].scan_period == start


def test_worker_threads_pass_every_scan_delay_until_placement():
    """Four threads: passes at 1, 2, 3 and 4 s (scan_delay apart, not 125 ms),
    each 2 MB (the 1 MB budget runs to the HPAGE_SIZE boundary), so the
    fourth ends the first sequence of the 8 MiB; its placement reads the
    recorded faults (promoted: local, private) and lengthens the period by 3
    slots of 100: 1300 ms."""
    cfg = _closed_loop_numab2(4, 4.5)
    sim = Sim(cfg, make_policy(cfg.policy))
    m = sim.run()
    assert m["mm_scans"] == 4
    assert sim.policy.slots[0].seq == 1
    assert sim.policy.slots[0].scan_period == 1300
