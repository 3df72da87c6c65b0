"""task_numa_work's per-VMA skips as upstream (kernel/sched/fair.c):
vma_is_accessed(), "not twice in a sequence", and the forced retry when the
walk reached the end of the VMAs having skipped some; hand-derived passes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from harness.model.policies._numab2 import Numab2Policy, Numab2Slot
from harness.model.policies._numab_scan import VmaNumabState, vma_is_accessed
from tests.helpers.simcfg import counts_matrix, mismatches, small_cfg


def test_vma_is_accessed_cases():
    # args: seq, start_scan_seq, pids_active, scan_offset, vm_start, prev_scan_seq, nr_threads
    assert vma_is_accessed(1, 0, (False, False), 0, 0, 0, 64)      # first two sequences
    assert not vma_is_accessed(2, 0, (False, False), 0, 0, 1, 64)  # idle since
    assert vma_is_accessed(2, 0, (True, False), 0, 0, 1, 64)       # a fault, older window
    assert vma_is_accessed(2, 0, (False, True), 0, 0, 1, 64)       # a fault, this window
    assert vma_is_accessed(2, 0, (False, False), 10, 5, 1, 64)     # a scan started inside it
    assert not vma_is_accessed(2, 0, (False, False), 5, 5, 1, 64)  # ... not at its start
    assert not vma_is_accessed(65, 0, (False, False), 0, 0, 1, 64)  # 65 > 1 + 64 is false
    assert vma_is_accessed(66, 0, (False, False), 0, 0, 1, 64)      # forced after 64 sequences


def _policy(active: list[bool], nr_threads: int = 64, seq: int = 4):
    """A task_numa_work over 3 VMAs of 1024 pages (budget 256 pages, 2 MiB =
    512-page chunks), every walked PTE updated; VMA i's task bit from active[i]."""
    pol = Numab2Policy.__new__(Numab2Policy)
    pol.scan_pages, pol.hpage_pages, pol.nr_threads = 256, 512, nr_threads
    pol.sim = SimpleNamespace(t=10_000_000)
    pol.walks = []
    pol._rule_change_prot_numa = lambda lo, hi: pol.walks.append((lo, hi)) or hi - lo
    slot = Numab2Slot(seq=seq)
    for v, a in enumerate(active):
        slot.vmas[v] = VmaNumabState(start_scan_seq=0, prev_scan_seq=seq - 1, next_scan=0,
                                     pids_active_reset=10**12, pids_active=[False, a])
    pol.slots = {0: slot}
    mm = SimpleNamespace(spec=SimpleNamespace(index=0, lo=0, hi=3072,
                                              vma_bounds=np.array([0, 1024, 2048, 3072])))
    return pol, slot, mm


def test_an_idle_vma_between_active_ones_is_skipped_for_the_sequence():
    """A and C faulted on, B idle (sequence 4, all last scanned in 3). Budget
    256 pages: a pass walks one 512-page chunk. Passes: A 0-512, A 512-1024
    (cursor at A's end), then B fails vma_is_accessed (4 - 0 >= 2, no task
    bit, cursor == B's start, 4 <= 3 + 64) and is skipped, C 2048-2560, C
    2560-3072: the mm's end, cursor 0 and sequence 5. B walked: 0 of 1024."""
    pol, slot, mm = _policy([True, False, True])
    out = [(pol._task_numa_work(mm), slot.cursor, slot.seq) for _ in range(4)]
    assert out == [((512, 1), 512, 4), ((512, 1), 1024, 4), ((512, 1), 2560, 4),
                   ((512, 1), 0, 5)]
    assert pol.walks == [(0, 512), (512, 1024), (2048, 2560), (2560, 3072)]
    # The same mm with B faulted on walks B in the third pass.
    pol, slot, mm = _policy([True, True, True])
    for _ in range(3):
        pol._task_numa_work(mm)
    assert pol.walks[2] == (1024, 1536)


def test_an_idle_vma_is_forced_after_nr_threads_sequences():
    """With one thread, B is scanned again once the sequence passes
    prev_scan_seq + 1: at sequence 4 (prev 3) it is skipped, at 5 it is not."""
    pol, slot, mm = _policy([True, False, True], nr_threads=1)
    slot.cursor = 1024
    pol._task_numa_work(mm)
    assert pol.walks == [(2048, 2560)]
    pol, slot, mm = _policy([True, False, True], nr_threads=1, seq=5)
    slot.vmas[1].prev_scan_seq = 3
    slot.cursor = 1024
    pol._task_numa_work(mm)
    assert pol.walks == [(1024, 1536)]


def test_the_walk_retries_forced_when_only_idle_vmas_are_left():
    """Every VMA idle, each last scanned in sequence 3: a pass from cursor 0
    skips all three, reaches the end, and retries with the skip off: A is
    walked (its first chunk exhausts the budget), cursor 512."""
    pol, slot, mm = _policy([False, False, False])
    assert pol._task_numa_work(mm) == (512, 1)
    assert pol.walks == [(0, 512)] and slot.cursor == 512 and slot.seq == 4


def test_a_vma_scanned_in_this_sequence_is_not_scanned_twice():
    """A completed in sequence 4 (prev_scan_seq 4): a pass from cursor 0 skips it,
    moving the cursor past it, and walks B."""
    pol, slot, mm = _policy([True, True, True])
    slot.vmas[0].prev_scan_seq = 4
    pol._task_numa_work(mm)
    assert pol.walks == [(1024, 1536)] and slot.cursor == 1536


def test_pid_windows_rotate_every_reset_period():
    """pids_active[1] moves to [0] and clears when the reset time passes (from
    the second sequence on); a task bit older than two windows is gone."""
    pol, slot, mm = _policy([True, False, True])
    st = slot.vmas[0]
    st.pids_active_reset = 9_000_000  # passed at t = 10 s
    pol._task_numa_work(mm)
    assert st.pids_active == [True, False] and st.pids_active_reset == 13_000_000


def test_reference_twin_sets_the_same_task_bits_with_idle_vmas():
    """8 MiB in 1 MB VMAs, the upper half never accessed: NUMAB2 with 1 MB
    passes, vectorized against the per-fault reference (counters identical)."""
    from harness.model import simulate

    counts = counts_matrix(3, 2048, 6)
    counts[:, 1024:] = 0
    cfg = small_cfg(dict(kind="numab2", numab_scan_size_mb=1, numab_scan_period_ms=None),
                    n=2048, fast=1024,
                    workload=dict(counts=counts.tolist(), vma_mb=1, placement="slow"))
    a = simulate(cfg).metrics
    b = simulate(cfg, reference=True).metrics
    assert mismatches(a, b) == {}
    assert a["hint_faults"] > 0
