"""Figures of a study: regret per workload and the trade-off of every trial in
normalized units. Tidy tables in, matplotlib Figures out (the style of
harness.report.plots)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from harness.experiment.spec import DEFAULT_LABEL, TUNED
from harness.report.plots import _colors_for, _explain_objective, _figure, style

GAIN_LABEL = "share of the attainable hit-rate gain\n(hit - none) / (oracle - none)"
COSTREL_LABEL = "CPU relative to the RFC defaults' (1 = as costly)"


def plot_regret(table: pd.DataFrame, colors: dict[str, str] | None = None) -> Figure:
    """Per workload (`table`: analysis.regret.regret_table), in % so that workloads
    of different objective scales share an axis: left, the regret of the tuned
    default and of the RFC default (own best minus the default, % of the own
    best; drawn only with per-workload studies); right, tuned - RFC paired by
    seed (% of RFC), coloured by its verdict. Bars are means over seeds, lines
    95% t intervals. A workload where tuned does worse than RFC is marked "!"."""
    colors = _colors_for([TUNED, DEFAULT_LABEL], colors)
    workloads = [w + (" !" if bad else "") for w, bad in
                 zip(table["workload"], table["worse_than_rfc"], strict=True)]
    y = np.arange(len(workloads))
    has_own = "regret_tuned" in table.columns
    metric = str(table["metric"].iloc[0])

    def bars(ax, yy, mean, lo, hi, scale, color, **kw):
        m = 100 * mean.to_numpy(float) / scale
        err = 100 * np.vstack([mean - lo, hi - mean]) / scale
        ax.barh(yy, m, height=kw.pop("height"), color=color, **kw)
        ax.errorbar(m, yy, xerr=np.clip(np.nan_to_num(err), 0, None), fmt="none",
                    ecolor="#333333", elinewidth=0.9, capsize=2)
        for yi, v in zip(np.atleast_1d(yy), m, strict=True):  # a zero is a result too
            if v == 0:
                ax.text(0, yi, " 0", ha="left", va="center", fontsize=8, color="#333333")

    with style():
        fig = _figure(10.0, 1.3 + 0.42 * len(workloads))
        axes = fig.subplots(1, 2 if has_own else 1, sharey=True, squeeze=False)[0]
        if has_own:
            ax = axes[0]
            scale = table["own_best"].abs().replace(0, np.nan).to_numpy(float)
            for j, (name, label) in enumerate((("tuned", TUNED), ("rfc", DEFAULT_LABEL))):
                bars(ax, y - 0.2 + 0.4 * j, table[f"regret_{name}"], table[f"regret_{name}_lo"],
                     table[f"regret_{name}_hi"], scale, colors[label], height=0.38, label=label)
            ax.axvline(0, color="#333333", linewidth=0.8)
            ax.set_xlabel(f"regret: own best minus the default\n(% of the own best {metric})")
            ax.set_title("What the shared default costs each workload")
            ax.legend(loc="lower right", frameon=False)
        ax = axes[-1]
        verdict_color = {"better": colors[TUNED], "worse": "#c0392b"}
        scale = table["rfc"].abs().replace(0, np.nan).to_numpy(float)
        bars(ax, y, table["tuned_minus_rfc"], table["tuned_minus_rfc_lo"],
             table["tuned_minus_rfc_hi"], scale,
             [verdict_color.get(v, "#9a9a9a") for v in table["verdict"]], height=0.5)
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.set_xlabel(f"{TUNED} minus {DEFAULT_LABEL}, paired by seed\n"
                      f"(% of the {DEFAULT_LABEL} {metric})")
        ax.set_title("Tuned against RFC defaults (grey: interval spans 0)")
        axes[0].set_yticks(y, workloads)
        axes[0].invert_yaxis()
        for a in axes:
            a.grid(axis="y", visible=False)
        if metric == "objective":
            _explain_objective(fig)
    return fig


def plot_tradeoff(suite: pd.DataFrame, per_workload: pd.DataFrame, marks: pd.DataFrame
                  ) -> Figure:
    """Every complete trial at its mean gain share and mean relative cost over the
    suite (big panel) and per workload (small panels). `suite`: trial, gain_share,
    cost_rel, feasible, front; `per_workload`: the same per (trial, workload);
    `marks`: named points (name, workload or "[suite]", gain_share, cost_rel): the
    RFC defaults, the recommendation, the knee, the oracle."""
    workloads = list(dict.fromkeys(per_workload["workload"]))
    ncol = 4
    nrow = 1 + -(-len(workloads) // ncol)
    styles = {"RFC defaults": ("s", "#333333"), "recommended": ("*", "#d55e00"),
              "kernel-settable": ("P", "#cc79a7"), "knee": ("D", "#009e73"),
              "oracle": ("^", "#0072b2")}

    def draw(ax, pts, name, big):
        ok, bad = pts[pts["feasible"]], pts[~pts["feasible"]]
        ax.scatter(bad["cost_rel"], bad["gain_share"], s=18 if big else 8, marker="x",
                   color="#9a9a9a", linewidths=0.8, label="infeasible trial")
        ax.scatter(ok["cost_rel"], ok["gain_share"], s=22 if big else 9,
                   color=sns.color_palette("colorblind")[0], alpha=0.8,
                   label="feasible trial")
        if "front" in pts:
            fr = pts[pts["front"]].sort_values("cost_rel")
            ax.step(fr["cost_rel"], fr["gain_share"], where="post", color="#555555",
                    linewidth=1.0, label="front (all trials)")
        for r in marks[marks["workload"] == name].to_dict("records"):
            m, c = styles.get(r["name"], ("o", "#000000"))
            ax.scatter([r["cost_rel"]], [r["gain_share"]], marker=m, s=110 if big else 40,
                       color=c, edgecolor="white", linewidths=0.6, zorder=5, label=r["name"])
        ax.set_title(name if not big else "suite: mean over workloads (each trial one point)")

    with style():
        fig = _figure(10.5, 3.6 + 2.0 * (nrow - 1))
        grid = fig.add_gridspec(nrow, ncol, height_ratios=[1.8] + [1] * (nrow - 1))
        ax = fig.add_subplot(grid[0, :])
        draw(ax, suite, "[suite]", True)
        ax.set_xlabel(COSTREL_LABEL)
        ax.set_ylabel(GAIN_LABEL)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        for i, w in enumerate(workloads):
            a = fig.add_subplot(grid[1 + i // ncol, i % ncol])
            d = per_workload[per_workload["workload"] == w]
            draw(a, d, w, False)
            a.tick_params(labelsize=7)
    return fig
