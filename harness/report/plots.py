"""Figures: tidy tables in, matplotlib Figures out. No file I/O here.

Every figure uses the same style, one colour per series (policy or labelled
point) from seaborn's colour-blind-safe "colorblind" palette plus a marker
shape per series, axis labels with units, and constrained layout so that no
text overlaps. Figures are drawn on their own Agg canvas (never through
pyplot), so importing this module leaves matplotlib's backend alone. The numbers drawn are exactly those of the matching table in
``harness.analysis`` (the report prints them under each figure); names,
units and colours come from ``harness.report.labels``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from harness.analysis.points import format_value
from harness.analysis.study_tables import StudyTables
from harness.analysis.tables import HeatmapData
from harness.experiment.spec import TUNED
from harness.report.labels import (
    BACKGROUND_COLOR,
    COST_LABEL,
    COST_PCT_LABEL,
    FIXED_COLORS,
    HIT_LABEL,
    METRIC_LABELS,
    OBJ_LABEL,
    OBJ_WORDS,
    OTHER_HATCH,
    TIMESERIES_PANELS,
    knob_label,
    series_colors,
    series_markers,
)
from harness.run.worker import PARAM_PREFIX

RC = {
    "svg.hashsalt": "tiersweep",  # stable SVG ids
    "svg.fonttype": "path",
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "image.cmap": "cividis",
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The one style of every figure (also wrap savefig in it: SVG ids depend on it)."""
    with sns.axes_style("whitegrid"), matplotlib.rc_context(RC):
        yield


# The report's column is 1100 px wide: a figure at most this wide (at 100 dpi) is
# shown at its own size, so its 9-10 pt text stays 12-14 px on the page.
PAGE_WIDTH_IN = 10.5


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(min(width, PAGE_WIDTH_IN), height), layout="constrained")
    FigureCanvasAgg(fig)  # not registered with pyplot: nothing to close, no global state
    return fig


def _colors_for(series: list[str], colors: dict[str, str] | None) -> dict[str, str]:
    base = series_colors(series)
    if colors:
        base.update({s: colors[s] for s in series if s in colors})
    return base


# ------------------------------------------------------ 1. policy comparison


def _cost_columns(table: pd.DataFrame) -> tuple[str, str, str, str]:
    """Cost as % of one CPU when the table has it (rows with their duration), else
    CPU-seconds per run: (column, low, high, axis label)."""
    if "cost_cpu_pct" in table.columns:
        return "cost_cpu_pct", "cost_cpu_pct_lo", "cost_cpu_pct_hi", COST_PCT_LABEL
    return "cost_cpu_s", "cost_cpu_s_lo", "cost_cpu_s_hi", COST_LABEL


def plot_policy_comparison(table: pd.DataFrame, seeds: pd.DataFrame, series: list[str],
                           colors: dict[str, str] | None = None) -> Figure:
    """Hit rate and cost per workload and series: bars are means over seeds, error
    bars their 95% t intervals (`table`: tables.comparison_table), dots the seeds
    (`seeds`: tables.comparison_seeds)."""
    series = [s for s in series if s in set(table["series"])]
    colors = _colors_for(series, colors)
    workloads = list(dict.fromkeys(table["workload"]))
    n_s = max(1, len(series))
    width = min(14.0, max(6.0, 1.0 + 0.35 * n_s * len(workloads) + 0.6 * len(workloads)))
    with style():
        fig = _figure(width, 5.6)
        axes = fig.subplots(2, 1, sharex=True)
        bw = 0.8 / n_s
        for ax, col, lo, hi, ylabel in (
                (axes[0], "hit_rate_pct", "hit_rate_lo_pct", "hit_rate_hi_pct", HIT_LABEL),
                (axes[1], *_cost_columns(table))):
            for j, s in enumerate(series):
                part = table[table["series"] == s]
                x = np.array([workloads.index(w) for w in part["workload"]]) - 0.4 + bw * (j + .5)
                hatch = None if s in FIXED_COLORS else OTHER_HATCH
                ax.bar(x, part[col], width=bw * 0.9, color=colors[s], label=s, hatch=hatch,
                       edgecolor="white", linewidth=0.5, gid=f"bar:{s}")
                m = part[col].to_numpy()  # one seed: no interval, no line
                for xi, v in zip(x, m, strict=True):  # a bar of height 0 is still a result
                    if v == 0:
                        ax.text(xi, 0, "0", ha="center", va="bottom", fontsize=7,
                                color="#333333")
                err = np.clip(np.vstack([(m - part[lo]).fillna(0), (part[hi] - m).fillna(0)]),
                              0, None)  # a zero-width interval may round below the mean
                ax.errorbar(x, m, yerr=err, fmt="none", ecolor="#333333",
                            elinewidth=0.9, capsize=2)
                r = seeds[seeds["series"] == s]
                xs = np.array([workloads.index(w) for w in r["workload"]]) - 0.4 + bw * (j + .5)
                ax.scatter(xs, r[col], s=7, color="#222222", zorder=3, linewidths=0)
            ax.set_ylabel(ylabel)
            ax.set_xticks(range(len(workloads)), workloads)
            ax.set_xlim(-0.5, len(workloads) - 0.5)
            ax.grid(axis="x", visible=False)
        axes[0].set_title("Policies across workloads (bars: mean over seeds; "
                          "lines: 95% t interval; dots: seeds)")
        axes[1].set_xlabel("workload")
        if len(workloads) > 4:
            axes[1].tick_params(axis="x", labelrotation=20)
        handles = [Rectangle((0, 0), 1, 1, facecolor=colors[s], edgecolor="white",
                                 hatch=None if s in FIXED_COLORS else OTHER_HATCH)
                   for s in series]
        fig.legend(handles, series, loc="outside upper center", ncols=min(len(series), 5),
                   frameon=False)
    return fig


# ------------------------------------------------------------ 2. Pareto front


def _draw_pareto(ax, pareto: pd.DataFrame, series: list[str], colors: dict[str, str],
                 markers: dict[str, str], tag: str = "") -> None:
    rest = pareto[~pareto["point"].isin(series)]
    if not rest.empty:
        ax.scatter(rest["cost_cpu_s"], rest["hit_rate_pct"], s=14, color=BACKGROUND_COLOR,
                   linewidths=0, zorder=1, label="other points")
    front = pareto[pareto["on_front"]].sort_values(["cost_cpu_s", "hit_rate_pct"])
    if len(front):
        ax.step(front["cost_cpu_s"], front["hit_rate_pct"], where="post", color="#333333",
                linewidth=1.0, zorder=2, label="Pareto front", gid=f"front{tag}")
        ax.scatter(front["cost_cpu_s"], front["hit_rate_pct"], s=30, facecolors="none",
                   edgecolors="#333333", linewidths=0.9, zorder=2)
    for s in series:
        row = pareto[(pareto["point"] == s) & pareto["contender"]]
        if row.empty:
            continue
        ax.scatter(row["cost_cpu_s"], row["hit_rate_pct"], s=90 if markers[s] == "*" else 55,
                   marker=markers[s], color=colors[s], edgecolors="black", linewidths=0.6,
                   zorder=4, label=s, gid=f"point{tag}:{s}")
        if "hit_rate_lo_pct" in row:  # 95% intervals over seeds of the suite means
            r = row.iloc[0]
            xerr = [[r["cost_cpu_s"] - r["cost_cpu_s_lo"]], [r["cost_cpu_s_hi"] - r["cost_cpu_s"]]]
            yerr = [[r["hit_rate_pct"] - r["hit_rate_lo_pct"]],
                    [r["hit_rate_hi_pct"] - r["hit_rate_pct"]]]
            ax.errorbar(r["cost_cpu_s"], r["hit_rate_pct"],
                        xerr=np.clip(np.nan_to_num(xerr), 0, None),
                        yerr=np.clip(np.nan_to_num(yerr), 0, None),
                        fmt="none", ecolor=colors[s], elinewidth=0.9, capsize=2, zorder=3)


def _zoom_box(pareto: pd.DataFrame) -> tuple[float, float, float, float] | None:
    """Limits around the kmmscand points when they crowd into a small part of the
    full view (under a quarter of both its width and its height); else None."""
    k = pareto[(pareto["policy"] == "kmmscand") & pareto["contender"]]
    c = pareto[pareto["contender"]]
    if len(k) < 2 or len(c) <= len(k):
        return None
    kx0, kx1 = float(k["cost_cpu_s"].min()), float(k["cost_cpu_s"].max())
    ky0, ky1 = float(k["hit_rate_pct"].min()), float(k["hit_rate_pct"].max())
    fx = float(c["cost_cpu_s"].max() - min(0.0, c["cost_cpu_s"].min()))
    fy = float(c["hit_rate_pct"].max() - c["hit_rate_pct"].min())
    if fx <= 0 or fy <= 0 or (kx1 - kx0) > 0.25 * fx or (ky1 - ky0) > 0.25 * fy:
        return None
    px = max(0.08 * (kx1 - kx0), 0.01 * fx)
    py = max(0.08 * (ky1 - ky0), 0.01 * fy)
    return kx0 - px, kx1 + px, ky0 - py, ky1 + py


def plot_pareto(pareto: pd.DataFrame, series: list[str],
                colors: dict[str, str] | None = None) -> Figure:
    """Mean hit rate against mean cost of every complete point; the front over
    contenders as a step line; highlighted series in colour, with their 95%
    intervals over seeds when the table has them; the oracle as the upper bound. When the kmmscand points crowd together, a second panel zooms
    in on them."""

    colors = _colors_for(series, colors)
    markers = series_markers(series)
    cost, lo, hi, cost_label = _cost_columns(pareto)
    # The drawing helpers read cost_cpu_s*: give them the plotted cost (% of one CPU).
    pareto = pareto.assign(cost_cpu_s=pareto[cost], **(
        {"cost_cpu_s_lo": pareto[lo], "cost_cpu_s_hi": pareto[hi]} if lo in pareto else {}))
    zoom = _zoom_box(pareto)
    with style():
        fig = _figure(11.5 if zoom else 7.6, 4.6)
        axes = fig.subplots(1, 2) if zoom else [fig.subplots()]
        ax = axes[0]
        _draw_pareto(ax, pareto, series, colors, markers)
        # The oracle (free migrations) bounds the hit rate; off scale it stays in the legend.
        contenders = pareto[pareto["contender"]]
        oracle = pareto[~pareto["contender"]]
        if len(oracle):
            top = float(oracle["hit_rate_pct"].max())
            lo, hi = (float(contenders["hit_rate_pct"].min()), float(contenders["hit_rate_pct"].max())
                      ) if len(contenders) else (top, top)
            pad = max(0.5, 0.08 * (hi - lo))
            label = f"oracle: {top:.1f}% (upper bound, free migrations)"
            if len(contenders) and top > hi + 4 * max(hi - lo, 1.0):
                ax.set_ylim(lo - pad, hi + pad)
                label += ", off scale"
            ax.axhline(top, color=FIXED_COLORS["oracle"], linestyle="--", linewidth=1.0,
                       zorder=1, label=label)
        xlabel = cost_label + "\nmean over workloads and seeds"
        ax.set_xlabel(xlabel)
        ax.set_ylabel(HIT_LABEL + ", mean")
        ax.set_title("Hit rate against cost\n(front: nothing cheaper is better)")
        ax.set_xlim(left=min(0.0, float(pareto["cost_cpu_s"].min())) if len(pareto) else 0)
        handles, labels = ax.get_legend_handles_labels()
        if zoom:
            x0, x1, y0, y1 = zoom
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle=":",
                                   edgecolor="#555555", linewidth=1.0, zorder=5))
            z = axes[1]
            _draw_pareto(z, pareto, series, colors, markers, tag=":zoom")
            z.set_xlim(x0, x1)
            z.set_ylim(y0, y1)
            z.set_xlabel(xlabel)
            z.set_ylabel(HIT_LABEL + ", mean")
            z.set_title("Zoom on the kmmscand points\n(the dotted box)")
        fig.legend(handles, labels, loc="outside right upper", frameon=False)
    return fig


# --------------------------------------------------------- 3. sensitivity maps


def plot_heatmaps(maps: list[HeatmapData]) -> Figure:
    """Mean objective over pairs of knobs, one heatmap per pair (cividis: readable
    without colour vision, lighter = better)."""
    n = len(maps)
    ncols = min(3, n)
    nrows = (n + ncols - 1) // ncols
    cells = max(max(m.pivot.shape) for m in maps)
    side = min(5.0, max(3.4, 0.55 * cells + 1.6))
    with style():
        fig = _figure(max(5.8, side * ncols + 1.6), side * nrows * 0.9 + 0.4)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, m in zip(axes, maps, strict=False):
            annot = m.pivot.size <= 64
            sns.heatmap(m.pivot, ax=ax, cmap="cividis", annot=annot, fmt=".2f",
                        annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                        cbar_kws={"label": OBJ_LABEL, "shrink": 0.85}, square=False)
            ax.invert_yaxis()  # larger values upward
            ax.set_xlabel(knob_label(m.x))
            ax.set_ylabel(knob_label(m.y))
            ax.set_xticklabels([format_value(v) for v in m.pivot.columns], rotation=0)
            ax.set_yticklabels([format_value(v) for v in m.pivot.index], rotation=0)
            title = "mean objective"
            if m.others:
                title += " (averaged over " + ", ".join(
                    knob_label(o).split(" (")[0] for o in m.others) + ")"
            ax.set_title(title, fontsize=9)
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.suptitle("Objective over pairs of knobs\n(grid points, mean over workloads "
                     "and seeds)", fontsize=10)
        _explain_objective(fig)
    return fig


def _explain_objective(fig: Figure) -> None:
    """The objective in words, under a figure that draws it."""
    fig.supxlabel(OBJ_WORDS, fontsize=8, color="#444444")


# ------------------------------------------------------------- 4. over time


def plot_timeseries(main: str, frames: dict[str, pd.DataFrame], title: str,
                    colors: dict[str, str] | None = None,
                    configured: dict[str, float] | None = None) -> Figure:
    """One run over time (`frames[main]`), with the other series' hit rates on the
    same workload and seed as thin lines in the first panel. `configured`: the
    knob values the run was given (column -> value), drawn dashed beside what the
    scanner's adaptation made of them."""
    configured = configured or {}
    series = list(frames)
    colors = _colors_for(series, colors)
    f = frames[main]
    panels = TIMESERIES_PANELS
    with style():
        fig = _figure(7.6, 9.6)
        axes = fig.subplots(len(panels), 1, sharex=True)
        for name, other in frames.items():
            if name == main:
                continue
            axes[0].plot(other["t_s"], other["hit_rate_pct"], color=colors[name],
                         linewidth=0.9, alpha=0.9, label=name, drawstyle="steps-pre",
                         gid=f"other:{name}")
        for ax, (col, label) in zip(axes, panels, strict=True):
            y = f[col].to_numpy(dtype=float)
            if np.all(np.isnan(y)):
                ax.text(0.5, 0.5, f"not used by {main}", transform=ax.transAxes,
                        ha="center", va="center", color="#666666")
                ax.set_yticks([])
            else:
                ax.plot(f["t_s"], y, color=colors[main], linewidth=1.8, label=main,
                        drawstyle="steps-pre" if col in ("hit_rate_pct", "promotions_per_s")
                        else "default",
                        gid=f"main:{col}")
                ax.set_ylim(bottom=0)
                if configured.get(col) is not None:
                    ax.axhline(configured[col], color="#333333", linestyle="--", linewidth=0.9,
                               gid=f"configured:{col}")
                    ax.annotate(f"configured {format_value(configured[col])}; solid: as "
                                "adapted", xy=(0.01, 0.96), xycoords="axes fraction",
                                ha="left", va="top", fontsize=7, color="#333333")
                if col == "queue_len":  # whole pages: no fractional ticks on a flat zero
                    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                    ax.set_ylim(top=max(1.0, float(np.nanmax(y)) * 1.05))
            ax.set_ylabel(label)
        axes[-1].set_xlabel("simulated time (s)")
        axes[0].set_title(title)
        handles = [Line2D([], [], color=colors[s], linewidth=1.8 if s == main else 0.9)
                   for s in series]
        labels = [f"{s} (this run)" if s == main else f"{s} (hit rate only)" for s in series]
        fig.legend(handles, labels, loc="outside right upper", frameon=False)
    return fig


# -------------------------------------------------------------- 5. studies


def plot_study(tables: StudyTables, color: str | None = None) -> Figure:
    """Optimization history (each completed trial, best so far) and parameter
    importances (Optuna's evaluator named in the title)."""
    color = color or FIXED_COLORS[TUNED]
    h, imp = tables.history, tables.importances
    with style():
        fig = _figure(10.0, 4.0)
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
        ax1.scatter(h["trial"], h["value"], s=12, color=BACKGROUND_COLOR, edgecolors="#777777",
                    linewidths=0.4, label="trial", zorder=2)
        ax1.step(h["trial"], h["best_so_far"], where="post", color=color, linewidth=1.8,
                 label=f"best so far ({tables.direction})", zorder=3, gid="best")
        ax1.set_xlabel("trial number")
        ylabel = METRIC_LABELS.get(tables.metric, tables.metric)
        ax1.set_ylabel(ylabel + ", mean over suite")
        total = sum(tables.states.values()) or tables.n_complete
        others = ", ".join(f"{n} {k}" for k, n in sorted(tables.states.items())
                           if k != "complete" and n)
        ax1.set_title(f"Optimization history of study {tables.name}\n({total} trials: "
                      f"{tables.n_complete} complete, drawn" + (f"; {others}" if others else "")
                      + ")")
        ax1.legend(loc="best", frameon=False)
        if len(imp):
            labels = [knob_label(p if p.startswith(PARAM_PREFIX) else PARAM_PREFIX + p)
                      for p in imp["param"]]
            ax2.barh(range(len(imp)), imp["importance"], color=color, gid="importance")
            ax2.set_yticks(range(len(imp)), labels)
            ax2.invert_yaxis()
            ax2.set_xlim(0, max(1e-9, float(imp["importance"].max())) * 1.1)
        else:
            ax2.text(0.5, 0.5, "no importances\n(needs 2+ trials over varied knobs)",
                     transform=ax2.transAxes, ha="center", va="center", color="#666666")
            ax2.set_yticks([])
        ax2.set_xlabel("relative importance (shares sum to 1)")
        ax2.set_ylabel("knob")
        ax2.set_title(f"Parameter importances ({tables.evaluator})")
        ax2.grid(axis="y", visible=False)
        if tables.metric == "objective":
            _explain_objective(fig)
    return fig


# ------------------------------------------------------------------ 6. regret
