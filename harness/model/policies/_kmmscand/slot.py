"""Per-mm state of kmmscand (the kernel's kmmscand_mm_slot)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class KmmscandSlot:
    """One mm's scan state. The scanner owns the scan fields; the migrator
    reads ``target`` and, in V3, counts outcomes into ``fratio``, which the
    scanner's next visit turns into a longer scan_period."""

    next_scan: int      # us; visits at or after this (a visit's walk end + scan_period)
    scan_period: int    # ms
    scan_size: int      # bytes a visit covers (whole VMAs)
    target: int         # node index promotions of this mm go to
    scan_delta: int = 0  # decayed slow-tier accessed count (the adaptation's X)
    cursor: int = 0      # VMA index where the next visit starts
    # V3 failure feedback: decayed successes / failures, the running counts of
    # the current window of entries, and the failure ratio (percent) the last
    # closed window left, which the next visit applies after its clamp.
    ok: int = 0
    bad: int = 0
    attempts: int = 0
    succ: int = 0
    fail: int = 0
    fratio: int = 0
