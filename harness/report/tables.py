"""The report's tables as people read them: headers in words with units, a
value and its 95% interval in one cell, numbers rounded to what the interval
supports, a caption saying what the table shows.

The CSV files beside the figures keep the machine columns (every digit, one
field a column); this is the view of them the HTML shows.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report.labels import COST_LABEL, COST_PCT_LABEL, knob_label

# Column -> header. The interval's own columns (X_lo/X_hi, X_lo_pct/X_hi_pct)
# join their value's cell; spreads (X_sd) and flags the verdict already says
# are left out.
HEADERS = {
    "workload": "workload", "series": "series", "point": "point", "policy": "policy",
    "n_seeds": "seeds", "metric": "metric", "verdict": "verdict", "samples": "samples",
    "hit_rate_pct": "fast-tier hit rate (%)", "cost_cpu_s": COST_LABEL,
    "cost_cpu_pct": COST_PCT_LABEL, "objective": "objective (gain per CPU %)",
    "on_front": "on the Pareto front", "contender": "contender",
    "tuned": "tuned", "rfc": "RFC defaults", "tuned_minus_rfc": "tuned − RFC",
    "trial": "trial", "value": "objective of the trial", "best_so_far": "best so far",
    "param": "knob", "importance": "importance (share of the variance)",
    "hit_rate_mean_pct": "mean hit rate (%)", "hit_rate_final_pct": "final hit rate (%)",
    "promotions_per_s_mean": "promotions (pages/s, mean)",
    "queue_len_max": "migration queue peak (pages)",
    "scan_period_ms_final": "last scan_period (ms)", "scan_size_mb_final": "last scan_size (MB)",
}
DROPPED = {"worse_than_rfc", "significantly_worse"}

CAPTIONS = {
    "policies": "Each policy or knob setting on each workload: mean over the seeds with its "
                "95% Student t interval (the figure's bars and whiskers).",
    "pareto": "Points drawn in the hit rate against cost figure: each point's mean over the "
              "suite's workloads with its 95% interval; the Pareto front is the points no "
              "other point beats on both hit rate and cost.",
    "regret": "Tuned knobs against the RFC defaults on each workload, over the study and "
              "holdout seeds: mean and 95% t interval of each side and of their paired "
              "difference (positive: tuned is better on this metric when it is maximized).",
    "study-history": "The study's trials that improved on every earlier one: its objective "
                     "and the best so far.",
    "study-importances": "How much of the objective's variance across trials each knob "
                         "explains (Optuna's PED-ANOVA; the shares sum to 1).",
    "timeseries": "The runs drawn over time: mean and final hit rate, promotion rate, the "
                  "migration queue's peak and the scanner's last adaptive period and size.",
}


def caption(name: str) -> str:
    if name in CAPTIONS:
        return CAPTIONS[name]
    if name.startswith("sensitivity-"):
        what = "95% interval half-width" if name.endswith("-ci95") else "mean objective"
        return (f"The {what} at each cell of the grid over two knobs "
                f"({', '.join(knob_label(k) for k in name[12:].removesuffix('-ci95').split('-'))}).")
    return name.replace("-", " ").capitalize() + "."


def _interval_cols(col: str, cols: set[str]) -> tuple[str, str] | None:
    for lo, hi in ((f"{col}_lo", f"{col}_hi"),
                   (f"{col[:-4]}_lo_pct", f"{col[:-4]}_hi_pct") if col.endswith("_pct")
                   else ("", "")):
        if lo in cols and hi in cols:
            return lo, hi
    return None


def decimals(half_width: float) -> int | None:
    """Decimals that keep two significant digits of an interval's half-width."""
    if not (math.isfinite(half_width) and half_width > 0):
        return None
    return max(0, min(6, 1 - math.floor(math.log10(half_width))))


def plain(v) -> str:
    """A number without an interval: three significant digits, integers whole."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e12):
        return f"{int(v):,}"
    if isinstance(v, float):
        if not 1e-3 <= abs(v) < 1e9:
            return f"{v:.2e}"
        digits = math.floor(math.log10(abs(v)))  # three significant digits, no exponent
        return f"{round(v, 2 - digits):,.0f}" if digits >= 2 else f"{v:.{2 - digits}f}"
    return str(v)


def with_interval(v: float, lo: float, hi: float) -> str:
    """`v [lo, hi]` rounded to the interval's second significant digit."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    d = decimals((hi - lo) / 2) if lo == lo and hi == hi else None
    if d is None:  # one seed, or no spread: no interval to round to
        return plain(v) + ("" if lo != lo else f" [{plain(lo)}, {plain(hi)}]")
    if v:  # and no more than four significant digits of the value itself
        d = min(d, max(0, 3 - math.floor(math.log10(abs(v)))))
    return f"{v:,.{d}f} [{lo:,.{d}f}, {hi:,.{d}f}]"


def header(col: str) -> str:
    if col in HEADERS:
        return HEADERS[col]
    return knob_label(col) if col.startswith(("param.", "policy.")) else col.replace("_", " ")


def for_people(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The table `name` with readable headers and rounded cells (all strings)."""
    cols = set(map(str, df.columns))
    used = set(DROPPED) | {c for c in cols if c.endswith("_sd") or c.endswith("_sd_pct")}
    out: dict[str, list[str]] = {}
    for col in map(str, df.columns):
        if col in used:
            continue
        iv = _interval_cols(col, cols) if pd.api.types.is_numeric_dtype(df[col]) else None
        values = df[col].tolist()
        if iv is not None:
            used.update(iv)
            cells = [with_interval(v, lo, hi)
                     for v, lo, hi in zip(values, df[iv[0]], df[iv[1]], strict=True)]
            out[header(col) + " [95% interval]"] = cells
        else:
            out[header(col)] = [plain(v) for v in values]
    return pd.DataFrame(out)
