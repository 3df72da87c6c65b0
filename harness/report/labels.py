"""What the report calls things: knob labels with units, metric axis labels,
and the colour and marker of each series. Every figure and table takes its
names from here."""

from __future__ import annotations

import seaborn as sns

from harness.analysis.points import knob_name
from harness.experiment import DEFAULT_LABEL
from harness.experiment.spec import TUNED

# ------------------------------------------------------------------- knobs

# Units of knobs whose name does not end in a unit suffix.
_KNOB_UNITS = {"mms_to_scan": "mms", "migrate_batch": "pages", "scan_change_scale": "pages",
               "scan_scale": "0-10", "target_node": "node id", "a_bit_miss": "probability"}
_SUFFIX_UNITS = (("_mbps", "MB/s"), ("_ms", "ms"), ("_mb", "MB"), ("_gb", "GiB"),
                 ("_pct", "%"), ("_us", "us"), ("_ns", "ns"), ("_s", "s"))


def knob_unit(col: str) -> str:
    leaf = col.rsplit(".", 1)[-1]
    if leaf in _KNOB_UNITS:
        return _KNOB_UNITS[leaf]
    for suffix, unit in _SUFFIX_UNITS:
        if leaf.endswith(suffix):
            return unit
    return ""


def knob_label(col: str) -> str:
    """Axis label: ``scan_size (MB)`` for ``param.policy.scan_size_mb``."""
    leaf = col.rsplit(".", 1)[-1]
    unit = knob_unit(col)
    base = leaf
    for suffix, u in _SUFFIX_UNITS:
        if leaf.endswith(suffix) and u == unit:
            base = leaf[: -len(suffix)]
            break
    prefix = knob_name(col).rsplit(".", 1)[0]
    if prefix not in ("policy", leaf):
        base = f"{prefix}.{base}"
    return f"{base} ({unit})" if unit else base


# ----------------------------------------------------------------- metrics

HIT_LABEL = "fast-tier hit rate (% of accesses)"
COST_LABEL = "CPU cost (CPU-s per run)"
COST_PCT_LABEL = "CPU cost (% of one CPU)"
OBJ_LABEL = "objective (hit-rate gain per CPU %)"
# The objective in words, for the figures that draw it (docs/model-fidelity.md: The objective).
OBJ_WORDS = ("objective = percentage points of hit rate gained over no promotion, per "
             "(% of one CPU spent on promotion + 1)")
# Study values are raw metrics (hit rate as a share, not %).
METRIC_LABELS = {"objective": OBJ_LABEL, "hit_rate": "fast-tier hit rate (share of accesses)",
                 "hit_rate_gain": "hit-rate gain over none (share)", "cost_cpu_s": COST_LABEL,
                 "time_to_90pct_s": "time to 90% of final hit rate (s)"}
# Panels of the time-series figure: column of timeseries_frame -> axis label.
TIMESERIES_PANELS = (("hit_rate_pct", "hit rate (%)"),
                     ("promotions_per_s", "promotions (pages/s)"),
                     ("queue_len", "migration queue (pages)"),
                     ("scan_period_ms", knob_label("scan_period_ms")),
                     ("scan_size_mb", knob_label("scan_size_mb")))

# ----------------------------------------------------------------- series

PALETTE = sns.color_palette("colorblind", 10).as_hex()
# Fixed colours of the named series; the colorblind palette's order is blue,
# orange, green, vermillion, reddish purple, brown, pink, grey, yellow, sky blue.
FIXED_COLORS = {DEFAULT_LABEL: PALETTE[0], "numab2": PALETTE[1], TUNED: PALETTE[2],
                "oracle": PALETTE[4], "none": PALETTE[7], "damon_tier": PALETTE[8]}
OTHER_COLORS = [PALETTE[9], PALETTE[5], PALETTE[3]]
# Bars of series that are not named labels also carry a hatch: told apart without colour.
OTHER_HATCH = "///"
BACKGROUND_COLOR = "#c8c8c8"  # points that are not highlighted
FIXED_MARKERS = {"none": "s", "numab2": "^", "damon_tier": "<", DEFAULT_LABEL: "D", TUNED: "*",
                 "oracle": "P"}
OTHER_MARKERS = ["o", "v", "X", "h"]


def series_colors(series: list[str]) -> dict[str, str]:
    """Colour of each series: fixed for the named labels, then the remaining palette
    colours in the given order (pass series in legend order); grey after that."""
    out: dict[str, str] = {}
    k = 0
    for s in series:
        if s in FIXED_COLORS:
            out[s] = FIXED_COLORS[s]
        elif k < len(OTHER_COLORS):
            out[s] = OTHER_COLORS[k]
            k += 1
        else:
            out[s] = BACKGROUND_COLOR
    return out


def series_markers(series: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    k = 0
    for s in series:
        if s in FIXED_MARKERS:
            out[s] = FIXED_MARKERS[s]
        else:
            out[s] = OTHER_MARKERS[k % len(OTHER_MARKERS)]
            k += 1
    return out
