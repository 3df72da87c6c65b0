"""Event counters and CPU time of one run, which every part of the model adds to."""

from __future__ import annotations

from dataclasses import dataclass, fields

FAIL_REASONS = ("not_hot", "same_node", "ineligible_src", "dest_watermark",
                "rate_limited", "not_candidate")


@dataclass(slots=True)
class Counters:
    """Event counts of one run (the kernel's vmstat / kmmscand counters)."""

    promotions: int = 0
    demotions: int = 0
    pingpong: int = 0          # promotions of pages demoted before
    ptes_scanned: int = 0
    mm_scans: int = 0
    vma_scans: int = 0
    migadded: int = 0          # entries queued on the migration list
    slowtier: int = 0          # accessed pages found on the slow tier by a scan
    toptier: int = 0           # ... on the fast tier
    idlepage: int = 0          # scanned pages not accessed
    hint_faults: int = 0
    migrate_dropped: int = 0   # list entries of an exiting mm
    migrate_stale: int = 0     # entries whose page already moved (also counted as failed)
    queue_len_peak: int = 0    # the longest the migration list has been (entries)
    kzalloc_failed: int = 0    # list entries not allocated (GFP_NOWAIT, every node under MIN)
    kswapd_runs: int = 0
    kswapd_accessed: int = 0   # pages kswapd's CLOCK found accessed (A bit set: cleared, redrawn)
    shootdowns: int = 0        # TLB shootdowns (one per page moved, not the oracle's)
    # Failed promotions, by reason (FAIL_REASONS).
    failed_not_hot: int = 0
    failed_same_node: int = 0
    failed_ineligible_src: int = 0
    failed_dest_watermark: int = 0
    failed_rate_limited: int = 0
    failed_not_candidate: int = 0

    def failed(self) -> int:
        return sum(self.failed_by_reason().values())

    def failed_by_reason(self) -> dict[str, int]:
        return {f"failed_{r}": getattr(self, f"failed_{r}") for r in FAIL_REASONS}


assert {f"failed_{r}" for r in FAIL_REASONS} <= {f.name for f in fields(Counters)}


@dataclass(slots=True)
class CpuTime:
    """CPU time by who pays it, in ns. app_mark: PTE marking (NUMAB2 task
    work); app_fault: hint faults and synchronous migration in the faulting
    task. Both are charged to the application. kswapd: reclaim's scan and
    demotions (a kernel thread, like the scanner and the migrator)."""

    scanner: float = 0.0
    migrator: float = 0.0
    kswapd: float = 0.0
    app_mark: float = 0.0
    app_fault: float = 0.0

    @property
    def app(self) -> float:
        return self.app_mark + self.app_fault
