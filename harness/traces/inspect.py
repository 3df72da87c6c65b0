"""Summaries and a heatmap of a converted trace (``tiersweep trace inspect``)."""

from __future__ import annotations

import math

import numpy as np

from harness.traces.base import TraceCounts


def skew(page_totals: np.ndarray, fraction: float) -> float:
    """Share of all accesses that go to the hottest ``fraction`` of pages."""
    n = len(page_totals)
    total = float(page_totals.sum())
    if n == 0 or total <= 0:
        return 0.0
    k = max(1, math.ceil(fraction * n))
    top = np.partition(page_totals, n - k)[n - k:]
    return float(top.sum()) / total


def summarize(tc: TraceCounts) -> dict:
    totals = np.concatenate([a.sum(axis=0, dtype=np.int64) for a in tc.per_process])
    per_window = np.sum([a.sum(axis=1, dtype=np.int64) for a in tc.per_process], axis=0)
    st = tc.stats
    out = dict(
        path=tc.path, format=tc.format, processes=len(tc.per_process),
        footprint_bytes=tc.footprint_bytes, footprint_gib=tc.footprint_bytes / 2**30,
        pages=tc.n_pages, page_size=tc.page_size, accesses=int(totals.sum()),
        windows=tc.n_windows, window_ms=tc.window_ms,
        duration_s=tc.n_windows * tc.window_ms / 1000.0,
        skew_top1pct=skew(totals, 0.01), skew_top10pct=skew(totals, 0.10),
        busiest_window_accesses=int(per_window.max()) if len(per_window) else 0,
        per_process=[dict(pid=int(pid), pages=int(a.shape[1]), accesses=int(a.sum()),
                          first_page_address=hex(addr))
                     for pid, a, addr in zip(tc.pids, tc.per_process, tc.first_page_address,
                                             strict=True)],
        cached=bool(st.get("cached", False)),
    )
    for key in ("lines", "rows", "instructions", "loads", "stores", "modifies", "bad_lines",
                "first_bad_lines", "skipped_lines", "snapshots", "regions", "convert_s",
                "lines_per_s", "sha256", "pid"):
        if key in st:
            out[key] = st[key]
    return out


def _size(n: float) -> str:
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{int(n)} B"


def format_summary(s: dict) -> str:
    lines = [
        f"{s['path']}: {s['format']} trace, {s['processes']} process"
        f"{'es' if s['processes'] != 1 else ''}",
        f"  footprint   {_size(s['footprint_bytes'])} ({s['pages']} pages of "
        f"{s['page_size'] // 1024} KiB)",
        f"  accesses    {s['accesses']} in {s['windows']} windows of {s['window_ms']} ms "
        f"({s['duration_s']:g} s)",
        f"  skew        hottest 1% of pages get {100 * s['skew_top1pct']:.1f}% of accesses, "
        f"hottest 10% get {100 * s['skew_top10pct']:.1f}%",
    ]
    if "instructions" in s:
        lines.append(f"  lackey      {s['lines']} lines, {s['instructions']} instructions, "
                     f"{s['loads']} loads, {s['stores']} stores, {s['modifies']} modifies")
    if s.get("bad_lines"):
        lines.append(f"  bad lines   {s['bad_lines']} skipped (first at line "
                     f"{', '.join(map(str, s.get('first_bad_lines', [])))})")
    for p in s["per_process"]:
        lines.append(f"  pid {p['pid']:<7} {p['pages']} pages from {p['first_page_address']}, "
                     f"{p['accesses']} accesses")
    if s.get("cached"):
        lines.append("  conversion  from the cache")
    elif "convert_s" in s:
        from harness.traces import rate, unit_of

        unit = unit_of(s)
        lines.append(f"  conversion  {s['convert_s']:.2f} s ({rate(s['lines_per_s'], unit)})")
    return "\n".join(lines)


def _bin(a: np.ndarray, axis: int, max_bins: int) -> tuple[np.ndarray, int]:
    n = a.shape[axis]
    step = max(1, math.ceil(n / max_bins))
    if step == 1:
        return a, 1
    return np.add.reduceat(a, np.arange(0, n, step), axis=axis), step


def heatmap(tc: TraceCounts, out: str, max_bins: int = 800) -> str:
    """Accesses over time (x) and pages (y) as a PNG, log colour scale."""
    # A Figure of its own (not pyplot): drawn and saved by matplotlib's Agg
    # canvas whatever backend the caller's process selected (or MPLBACKEND).
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    m = np.concatenate([a.astype(np.int64) for a in tc.per_process], axis=1)
    m, wstep = _bin(m, 0, max_bins)
    m, pstep = _bin(m, 1, max_bins)
    img = np.ma.masked_equal(m.T, 0)
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    dur = tc.n_windows * tc.window_ms / 1000.0
    vmax = max(1, int(m.max()))
    im = ax.imshow(img, aspect="auto", origin="lower", interpolation="nearest",
                   norm=LogNorm(vmin=1, vmax=max(vmax, 2)), cmap="viridis",
                   extent=(0, dur, 0, tc.n_pages))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("page (touched pages in address order"
                  + (", processes stacked" if len(tc.per_process) > 1 else "") + ")")
    ax.set_title(f"{tc.path}: accesses per {tc.window_ms * wstep} ms x {pstep} page"
                 f"{'s' if pstep > 1 else ''}", fontsize=9)
    bounds = np.cumsum([a.shape[1] for a in tc.per_process])[:-1]
    for b in bounds:
        ax.axhline(b, color="white", lw=0.5)
    fig.colorbar(im, ax=ax, label="accesses (log scale)")
    fig.savefig(out, dpi=120)
    return out
