"""kmmscand's per-version defaults (MODEL.md), the one table of them.

They live in config, not beside the policy in harness/model, because a run
config resolves them when it is loaded: a knob left unset reads as its
version's value everywhere (results, sweeps, the manifest), and config sits
below the model, so it cannot import the policy.
"""

from __future__ import annotations

# From the patches: scan_sleep_ms, scan_period (min, default, max) ms,
# scan_size (min, default, max) MB, decay cut-off under which a decayed delta
# counts as zero.
VERSION_DEFAULTS: dict[str, dict[str, int]] = {
    "v0": dict(scan_sleep_ms=16, scan_period_min_ms=400, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=512, scan_size_mb=4096,
               scan_size_max_mb=16384, scan_change_scale=100),
    "v1": dict(scan_sleep_ms=16, scan_period_min_ms=500, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=256, scan_size_mb=1024,
               scan_size_max_mb=4096, scan_change_scale=256),
    "v2": dict(scan_sleep_ms=20, scan_period_min_ms=600, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=256, scan_size_mb=1024,
               scan_size_max_mb=4096, scan_change_scale=256),
    "v3": dict(scan_sleep_ms=20, scan_period_min_ms=600, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=256, scan_size_mb=1024,
               scan_size_max_mb=4096, scan_change_scale=256),
}


def version_defaults(version: str) -> dict[str, int | bool]:
    """Every knob whose default depends on the version: the table's constants
    and the features each version introduced (V0 single-threaded, V2 the
    "still hot" check, V3 second access and failure feedback)."""
    return {**VERSION_DEFAULTS[version],
            "single_thread": version == "v0",
            "hot_check": version in ("v2", "v3"),
            "second_access": version == "v3",
            "failure_feedback": version == "v3"}
