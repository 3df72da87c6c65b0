"""The report's figures, each with its caption and the tables behind it
(nothing written here; see ``harness.report.html``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pandas as pd

from harness.analysis import points as pt
from harness.analysis import tables as tb
from harness.analysis.runs import RunData
from harness.analysis.study_tables import study_tables
from harness.analysis.trial_points import marks, trial_points
from harness.errors import InputError
from harness.experiment.spec import DEFAULT_LABEL, NAMED_LABELS, TUNED
from harness.report import plots as P
from harness.report import plots_study as PS
from harness.report.labels import BACKGROUND_COLOR, knob_label, series_colors
from harness.run.store.layout import TIMESERIES, TRIALS


@dataclass
class FigureOut:
    key: str
    title: str
    caption: str
    fig: object | None = None  # matplotlib Figure
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    skipped: str | None = None


def _progress(items, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return items
    return tqdm(items, desc=desc, unit="fig", disable=None, file=sys.stderr, leave=False)


def build_figures(run: RunData, study=None, timeseries_eval: str | None = None,
                  progress: bool = True, extra_points: int | None = None) -> list[FigureOut]:
    """Every figure of the report with the tables behind it (nothing written).
    `extra_points`: the best other points drawn beside the named series (default:
    none in a study's run, whose 'tuned' is its best; 3 in a sweep's)."""
    df = pt.with_points(run.trials)
    suite = pt.reference_suite(df)
    left_out = len(df) - len(pt.in_suite(df, suite))
    note = (f"{left_out} evaluation(s) on seeds outside the suite every mode ran (e.g. a "
            f"study's holdout seeds) are left out of figures 1-3 (see tiersweep defaults)")
    if left_out and note not in run.notes:
        run.notes.append(note)
    pts = pt.points_table(df)
    if extra_points is None:
        extra_points = 0 if TUNED in set(pts["point"]) else 3
    series = pt.highlighted_points(pts, extra=extra_points)
    ranked = pt.rank_points(pts)["point"].tolist()
    colors = series_colors([s for s in ranked if s in series])
    out: list[FigureOut] = []
    steps = ["policies", "pareto", "sensitivity", "timeseries", "study", "regret"]
    for step in _progress(steps, "figures") if progress else steps:
        if step == "policies":
            f = FigureOut("1-policies", "1. Policies across workloads",
                          "Fast-tier hit rate and CPU cost of each policy on each workload of "
                          "the suite: bars are means over seeds, lines their 95% intervals "
                          "(Student t over the seeds), dots single seeds.")
            table = tb.comparison_table(df, series)
            f.fig = P.plot_policy_comparison(table, tb.comparison_seeds(df, series), series,
                                             colors)
            f.tables.append(("policies", table))
        elif step == "pareto":
            f = FigureOut("2-pareto", "2. Hit rate against cost",
                          "Each complete point (configuration evaluated on every workload and "
                          "seed) at its mean hit rate and mean cost; the named series with "
                          "their 95% intervals over seeds (Student t, of the mean over "
                          "workloads at each seed). The front joins the points "
                          "no other contender beats on both; the oracle (free migrations) is an "
                          "upper bound, not a contender.")
            par = tb.pareto_table(pts, df)
            tp = trial_points(run)
            if tp is not None:  # a normalized study: every trial, in normalized units
                f.title = "2. The trade-off: every trial, in normalized units"
                f.caption = (
                    "Each complete trial of the study at its mean over seeds of the share "
                    "of the attainable hit-rate gain ((hit - none) / (oracle - none)) and "
                    "of its CPU relative to the RFC defaults' on the same workload; big "
                    "panel: means over the workloads, small panels: each workload. Grey "
                    "crosses break a guard (infeasible, kept). The step line is the front; "
                    "marked: the RFC defaults, the recommendation (best on the holdout "
                    "seeds), the kernel-settable recommendation (holdout seeds), the "
                    "feasible front's knee and the oracle (free migrations: an upper bound).")
                mk = marks(run, tp)
                f.fig = PS.plot_tradeoff(tp.suite, tp.per_workload, mk)
                f.tables.append(("trials", tp.suite))
                f.tables.append(("marked", mk))
            elif par.empty:
                f.skipped = "no point was evaluated on every workload and seed"
            else:
                f.fig = P.plot_pareto(par, series, colors)
                shown = par[par["on_front"] | par["point"].isin(series)]
                cols = ["point", "policy", "hit_rate_pct", "hit_rate_lo_pct", "hit_rate_hi_pct",
                        "cost_cpu_s", "cost_cpu_s_lo", "cost_cpu_s_hi", "objective",
                        "on_front", "contender"]
                f.tables.append(("pareto", shown[cols].reset_index(drop=True)))
        elif step == "sensitivity":
            f = FigureOut("3-sensitivity", "3. Sensitivity to pairs of knobs",
                          "Mean objective of grid points over each pair of swept knobs "
                          "(mean over workloads, seeds and any other swept knob); the "
                          "-ci95 tables give each cell's 95% interval half-width (Student t "
                          "over the seeds, of the cell's mean at each seed).")
            maps = tb.heatmap_tables(df)
            if not maps:
                f.skipped = ("no grid over two or more kmmscand knobs in this run (run a sweep "
                             "with a grid:, or add one to the compare experiment)")
            else:
                f.fig = P.plot_heatmaps(maps)
                for m in maps:
                    name = f"sensitivity-{pt.knob_name(m.y)}-{pt.knob_name(m.x)}"
                    for suffix, tab, head in (("", m.pivot, "mean objective"),
                                              ("-ci95", m.half, "95% half-width")):
                        t = tab.copy()
                        t.index = [f"{knob_label(m.y)} = {pt.format_value(v)}" for v in t.index]
                        t.columns = [f"{knob_label(m.x)} = {pt.format_value(v)}"
                                     for v in t.columns]
                        f.tables.append((name + suffix, t.reset_index(names=head)))
        elif step == "timeseries":
            f = FigureOut("4-timeseries", "4. One run over time",
                          "One evaluation sampled over simulated time; the first panel adds "
                          "the other highlighted series on the same workload and seed.")
            _timeseries_figure(f, run, df, series, colors, timeseries_eval)
        elif step == "regret":
            f = FigureOut("6-regret", "6. Regret per workload",
                          "For each workload: how far the recommended default and the RFC "
                          "default fall short of the workload's own best knobs (the best "
                          "trial of a study of that workload alone; study.per_workload_trials), "
                          "and the recommended default minus the RFC default paired by seed, both in "
                          "% (of the own best, of the RFC default's value) so that workloads of "
                          "different scales share an axis; the table has the absolute values. "
                          "Bars are means over the comparison's seeds (study and holdout), "
                          "lines 95% intervals (Student t over the seeds); '!' marks a "
                          "workload where the recommendation does worse than the RFC "
                          "defaults on the mean.")
            _regret_figure(f, run, df, colors)
        else:
            f = FigureOut("5-study", "5. Optimization history and parameter importances",
                          "Every completed trial's value (the study's objective aggregated "
                          "over the suite) and the best so far; importances from Optuna's "
                          "evaluator (fANOVA on small studies when scikit-learn is installed, "
                          "PED-ANOVA otherwise).")
            if study is None:
                f.skipped = "no Optuna study in this run (tune runs keep a journal file)"
            else:
                st = study_tables(study)
                if st.n_complete == 0:
                    f.skipped = f"study {st.name} has no completed trial"
                else:
                    f.fig = P.plot_study(st, colors.get(TUNED))
                    best = st.history[st.history["value"] == st.history["best_so_far"]]
                    improving = best.drop_duplicates("best_so_far")
                    f.tables.append(("study-history", improving.reset_index(drop=True)))
                    f.tables.append(("study-importances", st.importances))
                    f.caption += f" Evaluator used: {st.evaluator}."
        out.append(f)
    return out


def _configured(row: pd.Series) -> dict[str, float]:
    """The scan knobs an evaluation was given (its param columns, else its patch
    version's defaults): what the time series' adapted values start from."""
    from harness.analysis.recommend import rfc_default

    if row.get("policy") != "kmmscand":
        return {}
    out = {}
    for col, key in (("scan_size_mb", "policy.scan_size_mb"),
                     ("scan_period_ms", "policy.scan_period_ms")):
        v = row.get(f"param.{key}")
        out[col] = float(v) if v is not None and pd.notna(v) else rfc_default(
            key, str(row.get("version", "v1")))
    return out


def _regret_figure(f: FigureOut, run: RunData, df: pd.DataFrame, colors: dict) -> None:
    from harness.analysis.recommend import recommend

    try:
        rec = recommend(run)
    except InputError as exc:
        f.skipped = f"no recommendation: {exc}"
        return
    table = rec.regret(df)
    if table.empty or DEFAULT_LABEL not in set(df["label"]):
        f.skipped = f"the run has no {DEFAULT_LABEL} evaluations to compare with"
        return
    if "regret_tuned" not in table.columns:
        f.caption += (" This run had no per-workload studies: only the difference to the "
                      "RFC defaults is drawn.")
    f.fig = PS.plot_regret(table, colors)
    f.tables.append(("regret", table))


def _timeseries_figure(f: FigureOut, run: RunData, df: pd.DataFrame, series: list[str],
                       colors: dict, eval_id: str | None) -> None:
    ts = run.timeseries
    if ts is None:
        f.skipped = f"no {TIMESERIES} in this run"
        return
    if eval_id is None:
        eval_id = tb.pick_timeseries_eval(df, ts, series)
        if eval_id is None:
            f.skipped = f"{TIMESERIES} has no samples for any evaluation of the table"
            return
    elif eval_id not in set(df["eval_id"]):
        raise InputError(f"{run.path / TRIALS}: no evaluation with eval_id {eval_id!r}")
    row = df[df["eval_id"] == eval_id].iloc[0]
    same = df[(df["workload"] == row["workload"]) & (df["seed"] == row["seed"])
              & (df["point"].isin(series) | (df["eval_id"] == eval_id))]
    f.caption = ("One evaluation sampled over simulated time; the first panel adds the "
                 "baselines and the other named series on the same workload and seed.")
    have = set(ts["eval_id"].unique())
    frames = {row["point"]: tb.timeseries_frame(ts, eval_id)}
    # Context in the hit-rate panel: the baselines and the other named series only.
    for p in [s for s in series if s != row["point"] and s in NAMED_LABELS]:
        r = same[(same["point"] == p) & same["eval_id"].isin(have)]
        if len(r):
            frames[p] = tb.timeseries_frame(ts, str(r["eval_id"].iloc[0]))
    cols = dict(colors)
    cols.setdefault(row["point"], BACKGROUND_COLOR)
    title = f"{row['point']} on {row['workload']}, seed {int(row['seed'])} (eval {eval_id})"
    f.fig = P.plot_timeseries(row["point"], frames, title, cols, _configured(row))
    f.tables.append(("timeseries", tb.timeseries_summary(frames)))
    f.caption += (" Hit rate and promotions are per sampling interval; queue length, "
                  "scan_period and scan_size are read at each sample (mean over the "
                  "processes' slots).")
