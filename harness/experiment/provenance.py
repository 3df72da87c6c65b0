"""Where each knob of a search space exists in the posted patches.

Every kmmscand knob is one of: a sysfs file of the posted versions (V1/V2/V3,
under /sys/kernel/mm/kmmscand or /sys/kernel/mm/kscand), a compile-time
constant of the patches (a rebuild sets it), the patch version itself, or
*proposed*: in no posted version (reviewers asked for a batch cap, a rate
limit and de-duplication of the migration list; the simulator offers them).
A kernel-settable recommendation holds the proposed knobs at the value that
behaves as the posted kernels do (``KERNEL_BEHAVIOUR``).
"""

from __future__ import annotations

from typing import Any

SYSFS = "sysfs V1/V2/V3"
COMPILE_TIME = "compile-time constant"
PROPOSED = "proposed (no posted version)"
VERSION = "patch version"

# knob -> (where it exists, sysfs file name or "")
PROVENANCE: dict[str, tuple[str, str]] = {
    "policy.version": (VERSION, ""),
    "policy.scan_sleep_ms": (SYSFS, "scan_sleep_ms"),
    "policy.scan_period_ms": (SYSFS, "mm_scan_period_ms"),
    "policy.mms_to_scan": (SYSFS, "mms_to_scan"),
    "policy.scan_enabled": (SYSFS, "scan_enabled"),
    "policy.target_node": (SYSFS, "target_node"),
    "policy.scan_size_mb": (COMPILE_TIME, ""),
    "policy.migrate_sleep_ms": (COMPILE_TIME, ""),
    "policy.first_scan_delay_ms": (COMPILE_TIME, ""),
    "policy.second_access": ("compile-time (V3 behaviour)", ""),
    "policy.migrate_batch": (PROPOSED, ""),
    "policy.migrate_rate_limit_mbps": (PROPOSED, ""),
    "policy.dedup": (PROPOSED, ""),
}

# The proposed knobs at the value that does what the posted kernels do: the
# migration thread drains the whole list, unthrottled, without de-duplication.
KERNEL_BEHAVIOUR: dict[str, Any] = {
    "policy.migrate_batch": 0,
    "policy.migrate_rate_limit_mbps": 0,
    "policy.dedup": False,
}


def where(key: str) -> str:
    """Where a knob exists ("simulator" for keys outside the policy)."""
    if key in PROVENANCE:
        return PROVENANCE[key][0]
    return COMPILE_TIME if key.startswith("policy.") else "simulator"


def is_proposed(key: str) -> bool:
    return where(key) == PROPOSED


def kernel_settable(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with every proposed knob held at the posted kernels' behaviour."""
    return {k: KERNEL_BEHAVIOUR.get(k, v) for k, v in params.items()}
