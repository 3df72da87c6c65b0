"""NUMA balancing's scan pacing as upstream (kernel/sched/fair.c): the scan
period's limits scaled by the task's RSS, update_task_scan_period's steps,
and the per-VMA state task_numa_work keeps to skip VMAs (vma->numab_state,
vma_is_accessed). Pure functions and records; the passes are in _numab2.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import MIB

MAX_SCAN_WINDOW = 2560  # MB/s: task_scan_min never scans faster than this
NUMA_PERIOD_SLOTS = 10
NUMA_PERIOD_THRESHOLD = 7
SCAN_DELAY_MS = 1000   # sysctl numa_balancing_scan_delay_ms
VMA_PID_RESET_PERIOD_MS = 4 * SCAN_DELAY_MS  # VMA_PID_RESET_PERIOD


def vma_is_accessed(seq: int, start_scan_seq: int, pids_active: tuple[bool, bool],
                    scan_offset: int, vm_start: int, prev_scan_seq: int,
                    nr_threads: int) -> bool:
    """vma_is_accessed (kernel/sched/fair.c) for a task whose threads are one
    task: the first two sequences of a VMA scan it unconditionally; then the
    task must have taken a hint fault in it during the last two
    VMA_PID_RESET_PERIOD windows (its bit in pids_active), unless a scan
    already started inside it (numa_scan_offset > vm_start), or more than
    nr_threads sequences passed since it was last scanned."""
    if seq - start_scan_seq < 2:
        return True
    if pids_active[0] or pids_active[1]:
        return True
    if scan_offset > vm_start:
        return True
    return seq > prev_scan_seq + nr_threads


def task_nr_scan_windows(rss_pages: int, scan_size_mb: int, page_bytes: int) -> int:
    """task_nr_scan_windows: the RSS in scan-size windows, rounded up (an empty
    mm counts one)."""
    nr_scan_pages = scan_size_mb * MIB // page_bytes
    rss = rss_pages or nr_scan_pages
    return -(-rss // nr_scan_pages)


def task_scan_min(windows: int, scan_size_mb: int, period_min_ms: int) -> int:
    """task_scan_min (ms): period_min per window, floored so that at most
    MAX_SCAN_WINDOW MB are marked a second."""
    w = MAX_SCAN_WINDOW // scan_size_mb if scan_size_mb < MAX_SCAN_WINDOW else 1
    return max(1000 // w, period_min_ms // windows)


def task_scan_max(windows: int, smin: int, period_max_ms: int) -> int:
    """task_scan_max (ms) of a task in no numa_group: period_max per window,
    never under task_scan_min. task_scan_start of such a task is task_scan_min."""
    return max(smin, period_max_ms // windows)


def update_task_scan_period(period: int, local: int, remote: int, private: int, shared: int,
                            failed: int, smin: int, smax: int) -> int:
    """update_task_scan_period (ms): no local or shared fault, or a failed
    migration, doubles the period (up to smax); else, with period slots of a
    tenth, mostly private (ps_ratio >= 7) or mostly local (lr_ratio >= 7)
    lengthens it by (ratio - 7) slots (at least one), otherwise it shortens by
    (7 - max ratio) slots; clamped to [smin, smax]."""
    if local + shared == 0 or failed:
        return min(smax, period << 1)
    period_slot = -(-period // NUMA_PERIOD_SLOTS)
    lr_ratio = local * NUMA_PERIOD_SLOTS // (local + remote)
    ps_ratio = private * NUMA_PERIOD_SLOTS // (private + shared)
    if ps_ratio >= NUMA_PERIOD_THRESHOLD:
        diff = max(ps_ratio - NUMA_PERIOD_THRESHOLD, 1) * period_slot
    elif lr_ratio >= NUMA_PERIOD_THRESHOLD:
        diff = max(lr_ratio - NUMA_PERIOD_THRESHOLD, 1) * period_slot
    else:
        diff = -(NUMA_PERIOD_THRESHOLD - max(lr_ratio, ps_ratio)) * period_slot
    return min(max(period + diff, smin), smax)


@dataclass(slots=True)
class VmaNumabState:
    """vma->numab_state (include/linux/mm_types.h), times in us; the task's
    bit in pids_active[0] / [1] is a bool (one task per mm)."""

    start_scan_seq: int
    prev_scan_seq: int
    next_scan: int
    pids_active_reset: int
    pids_active: list = field(default_factory=lambda: [False, False])


def vma_numab_state(vmas: dict, v: int, seq: int, now: int) -> VmaNumabState:
    """The VMA's numab_state, initialised the first time a pass sees it: its
    scan delay and first pid reset from now, prev_scan_seq one behind."""
    st = vmas.get(v)
    if st is None:
        nxt = now + SCAN_DELAY_MS * 1000
        st = vmas[v] = VmaNumabState(start_scan_seq=seq, prev_scan_seq=seq - 1, next_scan=nxt,
                                     pids_active_reset=nxt + VMA_PID_RESET_PERIOD_MS * 1000)
    return st


def save_scan_offset(slot, lo: int, hi: int, start: int) -> None:
    """mm->numa_scan_offset = start (a page of the mm [lo, hi)); the mm's end
    wraps it to 0 and starts a new numa_scan_seq."""
    slot.cursor = 0 if start >= hi else start - lo
    slot.seq += slot.cursor == 0
