"""Figures: the numbers drawn equal aggregations of the results table."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PathCollection
from matplotlib.text import Text

from harness.analysis import points as PT
from harness.analysis import study_tables as ST
from harness.analysis import tables as TB
from harness.analysis.stats import mean_ci
from harness.report import labels as L
from harness.report import plots as P
from tests.helpers.synth_results import (
    SEEDS,
    SIZES,
    SLEEPS,
    WORKLOADS,
    make_timeseries,
    make_trials,
    make_tune_like,
    write_run,
)


@pytest.fixture(scope="module")
def df():
    return PT.with_points(make_trials())


@pytest.fixture(scope="module")
def pts(df):
    return PT.points_table(df)


@pytest.fixture(scope="module")
def series(pts):
    return PT.highlighted_points(pts)


# ---------------------------------------------------------------- helpers


def _drawn_texts(fig):
    """Every text the renderer draws: titles, axis labels, tick labels inside the view
    limits, annotations, legend entries, figure-level texts."""
    out = list(fig.texts)
    for leg in fig.legends:
        out += leg.get_texts() + [leg.get_title()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        out += list(ax.texts)
        if ax.get_legend() is not None:
            out += ax.get_legend().get_texts()
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            span = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks():
                if lo - span <= tick.get_loc() <= hi + span:
                    out += [tick.label1, tick.label2]
    return out


def _texts_overlap(fig) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes intersect (after layout)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = []
    for t in _drawn_texts(fig):
        if not isinstance(t, Text) or not t.get_visible() or not t.get_text().strip():
            continue
        bb = t.get_window_extent(r)
        if bb.width > 0 and bb.height > 0:
            boxes.append((t.get_text(), bb))
    bad = []
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        ov_w = min(a.x1, b.x1) - max(a.x0, b.x0)
        ov_h = min(a.y1, b.y1) - max(a.y0, b.y0)
        if ov_w > 1 and ov_h > 1:
            bad.append((ta, tb))
    return bad


def _check_labels(fig):
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        assert ax.get_xlabel() or ax.get_shared_x_axes().get_siblings(ax) != [ax]
        assert ax.get_ylabel()
    assert not _texts_overlap(fig)


# ---------------------------------------------------------------- colours


def test_colors_fixed_and_colorblind_palette():
    import seaborn as sns

    cb = set(sns.color_palette("colorblind").as_hex())
    a = L.series_colors(["none", "numab2", "rfc-default", "tuned", "oracle", "p1", "p2"])
    b = L.series_colors(["p1", "oracle", "tuned", "none"])
    for name in ("none", "tuned", "oracle"):
        assert a[name] == b[name] == L.FIXED_COLORS[name]
    assert set(a.values()) <= cb
    assert len(set(a.values())) == len(a)  # distinct within a figure


def test_every_figure_uses_the_same_colour_per_series(df, pts, series):
    colors = L.series_colors(series)
    f1 = P.plot_policy_comparison(TB.comparison_table(df, series),
                                  TB.comparison_seeds(df, series), series, colors)
    f2 = P.plot_pareto(TB.pareto_table(pts), series, colors)
    import matplotlib.colors as mc

    for s in series:
        bars = [p for p in f1.axes[0].patches if p.get_gid() == f"bar:{s}"]
        assert bars and mc.to_hex(bars[0].get_facecolor()) == colors[s]
        pts_art = [c for c in f2.axes[0].collections if c.get_gid() == f"point:{s}"]
        if s != "oracle":
            assert mc.to_hex(pts_art[0].get_facecolor()[0]) == colors[s]


# ---------------------------------------------------- 1. policy comparison


def test_comparison_table_matches_groupby(df, series):
    tab = TB.comparison_table(df, series)
    raw = make_trials()
    g = raw[raw["label"].isin(series)].groupby(["workload", "label"])
    for _, row in tab.iterrows():
        grp = g.get_group((row["workload"], row["series"]))
        assert row["n_seeds"] == len(SEEDS)
        assert row["hit_rate_pct"] == pytest.approx(grp["hit_rate"].mean() * 100)
        assert row["hit_rate_sd_pct"] == pytest.approx(grp["hit_rate"].std(ddof=1) * 100)
        assert row["cost_cpu_s"] == pytest.approx(grp["cost_cpu_s"].mean())
        assert row["cost_cpu_s_sd"] == pytest.approx(grp["cost_cpu_s"].std(ddof=1))
        _, lo, hi = mean_ci(grp["hit_rate"] * 100)
        assert (row["hit_rate_lo_pct"], row["hit_rate_hi_pct"]) == pytest.approx((lo, hi))
        assert row["hit_rate_lo_pct"] <= row["hit_rate_pct"] <= row["hit_rate_hi_pct"]
    assert len(tab) == len(WORKLOADS) * len(series)


def test_policy_figure_draws_the_table(df, series):
    tab = TB.comparison_table(df, series)
    seeds = TB.comparison_seeds(df, series)
    fig = P.plot_policy_comparison(tab, seeds, series)
    # the cost as a kernel developer reads it: % of one CPU (CPU-s / duration)
    assert "cost_cpu_pct" in tab
    for ax, col in zip(fig.axes[:2], ("hit_rate_pct", "cost_cpu_pct"), strict=True):
        for s in series:
            heights = [p.get_height() for p in ax.patches if p.get_gid() == f"bar:{s}"]
            want = tab[tab["series"] == s].set_index("workload").loc[list(WORKLOADS), col]
            np.testing.assert_allclose(heights, want.to_numpy())
        # The dots are the seeds, one per evaluation of the series.
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]
        for c, s in zip(dots, series, strict=True):
            np.testing.assert_allclose(c.get_offsets()[:, 1], seeds[seeds["series"] == s][col])
    assert fig.axes[0].get_ylabel() == L.HIT_LABEL and "%" in L.HIT_LABEL
    assert fig.axes[1].get_ylabel() == L.COST_PCT_LABEL == "CPU cost (% of one CPU)"
    _check_labels(fig)


# ------------------------------------------------------------ 2. Pareto


def _brute_front(cost, hit):
    n = len(cost)
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        out[i] = not any(cost[j] <= cost[i] and hit[j] >= hit[i]
                         and (cost[j] < cost[i] or hit[j] > hit[i]) for j in range(n))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25))
def test_pareto_mask_equals_brute_force(pairs):
    cost = np.array([p[0] for p in pairs], dtype=float)
    hit = np.array([p[1] for p in pairs], dtype=float)
    np.testing.assert_array_equal(TB.pareto_mask(cost, hit), _brute_front(cost, hit))


def test_pareto_on_hand_made_frame():
    rows = []
    # label, policy, cost, hit: front is a (0, .30), b (1, .50), d (3, .60);
    # c (2, .45) is dominated by b; e (4, .60) by d; the oracle is no contender.
    for label, pol, cost, hit in (("a", "none", 0, .30), ("b", "kmmscand", 1, .50),
                                  ("c", "kmmscand", 2, .45), ("d", "numab2", 3, .60),
                                  ("e", "kmmscand", 4, .60), ("oracle", "oracle", 0, .95)):
        for seed in (1, 2):
            rows.append({"run": "r", "mode": "sweep", "eval_id": f"{label}{seed}",
                         "label": label, "policy": pol, "workload": "w", "seed": seed,
                         "hit_rate": hit + (0.01 if seed == 1 else -0.01),
                         "cost_cpu_s": float(cost), "objective": 0.0})
    par = TB.pareto_table(PT.points_table(pd.DataFrame(rows)))
    front = set(par.loc[par["on_front"], "point"])
    assert front == {"a", "b", "d"}
    assert not par.set_index("point").loc["oracle", "contender"]
    np.testing.assert_allclose(par.set_index("point").loc["b", "hit_rate_pct"], 50.0)
    fig = P.plot_pareto(par, ["a", "d", "oracle"])
    step = [ln for ln in fig.axes[0].lines if ln.get_gid() == "front"][0]
    np.testing.assert_allclose(step.get_xdata(), [0, 1, 3])
    np.testing.assert_allclose(step.get_ydata(), [30, 50, 60])
    _check_labels(fig)


def test_points_are_means_over_workloads_of_seed_means(pts):
    assert pts["complete"].all()
    # By hand, on one point whose workloads have unequal numbers of seeds:
    # zipf 1 and 3 (mean 2), hotset 8 (its second seed dropped), uniform 5 and
    # 5: (2 + 8 + 5) / 3 = 5, where a flat mean over the rows would give 4.4.
    raw = make_trials()
    one = raw[raw["label"] == "tuned"].reset_index(drop=True)
    one["objective"] = [1.0, 3.0, 8.0, 99.0, 5.0, 5.0]
    one = one.drop(index=3)
    row = PT.points_table(PT.with_points(one)).set_index("label").loc["tuned"]
    assert row["objective"] == pytest.approx(5.0)
    assert row["n_evals"] == 5 and row["n_workloads"] == 3


def test_incomplete_points_are_left_off_the_front():
    raw = make_trials(grid=False)
    raw = raw[~((raw["label"] == "tuned") & (raw["workload"] == "zipf"))]
    pts = PT.points_table(PT.with_points(raw))
    assert not pts.set_index("point").loc["tuned", "complete"]
    assert "tuned" not in set(TB.pareto_table(pts)["point"])


# ------------------------------------------------------------- 3. heatmaps


def test_heatmap_pivot_equals_mean_objective(df):
    maps = TB.heatmap_tables(df)
    assert len(maps) == 1
    m = maps[0]
    assert {m.x, m.y} == {"param.policy.scan_size_mb", "param.policy.scan_sleep_ms"}
    raw = make_trials()
    grid = raw[raw["label"].str.startswith("g-")]
    for yv in m.pivot.index:
        for xv in m.pivot.columns:
            cell = grid[(grid[m.x] == xv) & (grid[m.y] == yv)]
            assert m.pivot.loc[yv, xv] == pytest.approx(cell["objective"].mean())
            assert m.n.loc[yv, xv] == len(WORKLOADS) * len(SEEDS)
            mean, lo, hi = mean_ci(cell.groupby("seed")["objective"].mean())
            assert m.half.loc[yv, xv] == pytest.approx(hi - mean)
    assert sorted(m.pivot.index) == list(m.pivot.index)
    assert set(m.pivot.columns) | set(m.pivot.index) <= set(SIZES) | set(SLEEPS)
    fig = P.plot_heatmaps(maps)
    ax = fig.axes[0]
    assert ax.get_xlabel() in ("scan_size (MB)", "scan_sleep (ms)")
    # The drawn mesh holds the pivot's values (row 0 = smallest y, drawn at the bottom).
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(3, 3),
                               m.pivot.to_numpy())
    _check_labels(fig)


def test_no_heatmap_without_a_grid():
    assert TB.heatmap_tables(PT.with_points(make_trials(grid=False))) == []


def test_continuous_knobs_are_not_a_grid():
    raw = make_trials(grid=True)
    rng = np.random.default_rng(0)
    raw["param.policy.scan_sleep_ms"] = np.where(raw["label"].str.startswith("g-"),
                                                 rng.uniform(1, 100, len(raw)), np.nan)
    assert TB.heatmap_tables(PT.with_points(raw)) == []


# ------------------------------------------------------------ 4. over time


@pytest.mark.parametrize("per_mm", [False, True])
def test_timeseries_frame_and_figure(df, series, per_mm):
    ts = make_timeseries(df, per_mm=per_mm)
    ev = TB.pick_timeseries_eval(df, ts, series)
    row = df[df["eval_id"] == ev].iloc[0]
    assert row["label"] == "tuned" and row["workload"] == WORKLOADS[0]
    assert row["seed"] == min(SEEDS)
    f = TB.timeseries_frame(ts, ev)
    raw = ts[ts["eval_id"] == ev]
    if per_mm:
        assert len(raw) == 2 * len(f)
        want_period = raw.groupby("t_s")["scan_period_ms"].mean().to_numpy()
        raw = raw.drop_duplicates("t_s")
    else:
        want_period = raw["scan_period_ms"].to_numpy()
    np.testing.assert_allclose(f["scan_period_ms"], want_period)
    dt = np.diff(raw["t_s"].to_numpy(), prepend=0.0)
    np.testing.assert_allclose(f["promotions_per_s"], raw["promotions"].to_numpy() / dt)
    np.testing.assert_allclose(f["hit_rate_pct"], raw["hit_rate"].to_numpy() * 100)
    frames = {"tuned": f, "none": TB.timeseries_frame(
        ts, df[(df["label"] == "none") & (df["workload"] == row["workload"])
               & (df["seed"] == row["seed"])]["eval_id"].iloc[0])}
    fig = P.plot_timeseries("tuned", frames, "tuned on zipf", L.series_colors(["none", "tuned"]),
                            configured={"scan_size_mb": 4096.0, "scan_period_ms": 2000.0})
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines}
    # the configured knobs beside what adaptation made of them
    assert set(lines["configured:scan_size_mb"].get_ydata()) == {4096.0}
    assert set(lines["configured:scan_period_ms"].get_ydata()) == {2000.0}
    np.testing.assert_allclose(lines["main:queue_len"].get_ydata(), f["queue_len"])
    np.testing.assert_allclose(lines["main:scan_size_mb"].get_ydata(), f["scan_size_mb"])
    assert "other:none" in lines
    assert fig.axes[-1].get_xlabel() == "simulated time (s)"
    for ax, unit in zip(fig.axes, ("%", "pages/s", "pages", "ms", "MB"), strict=True):
        assert f"({unit})" in ax.get_ylabel()
    _check_labels(fig)
    summ = TB.timeseries_summary(frames).set_index("series")
    assert summ.loc["tuned", "queue_len_max"] == f["queue_len"].max()


# --------------------------------------------------------------- 5. study


def test_study_tables_and_figure(tmp_path):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))
    study = optuna.create_study(study_name="t", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_int("policy.scan_size_mb", 256, 4096, log=True) / 1000
                   + 0.001 * t.suggest_int("policy.scan_sleep_ms", 4, 64), n_trials=25)
    pruned = study.ask()
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    tabs = ST.study_tables(ST.load_study(tmp_path / "study.journal"))
    want = [t.value for t in study.trials if t.value is not None]
    np.testing.assert_allclose(tabs.history["value"], want)
    assert tabs.states == {"complete": 25, "pruned": 1}
    np.testing.assert_allclose(tabs.history["best_so_far"], np.maximum.accumulate(want))
    assert tabs.evaluator in ("fANOVA", "PED-ANOVA")
    assert set(tabs.importances["param"]) == {"policy.scan_size_mb", "policy.scan_sleep_ms"}
    assert tabs.importances["importance"].sum() == pytest.approx(1.0)
    assert tabs.importances["param"].iloc[0] == "policy.scan_size_mb"
    fig = P.plot_study(tabs)
    best = [ln for ln in fig.axes[0].lines if ln.get_gid() == "best"][0]
    np.testing.assert_allclose(best.get_ydata(), tabs.history["best_so_far"])
    bars = [p.get_width() for p in fig.axes[1].patches]
    np.testing.assert_allclose(bars, tabs.importances["importance"])
    assert fig.axes[0].get_xlabel() == "trial number"
    assert "(26 trials: 25 complete, drawn; 1 pruned)" in fig.axes[0].get_title()
    assert fig.get_supxlabel() == L.OBJ_WORDS  # the objective in words, on the figure
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()][0] == "scan_size (MB)"
    _check_labels(fig)


def test_evaluator_choice_by_study_size():
    assert ST.choose_evaluator(50_000)[1] == "PED-ANOVA"
    name = ST.choose_evaluator(20)[1]
    try:
        import sklearn  # noqa: F401
    except ImportError:
        assert name == "PED-ANOVA"
    else:
        assert name == "fANOVA"


def test_knob_labels_carry_units():
    assert L.knob_label("param.policy.scan_size_mb") == "scan_size (MB)"
    assert L.knob_label("param.policy.scan_period_ms") == "scan_period (ms)"
    assert L.knob_label("param.policy.migrate_rate_limit_mbps") == "migrate_rate_limit (MB/s)"
    assert L.knob_label("param.policy.migrate_batch") == "migrate_batch (pages)"
    assert L.knob_label("param.workload.size_gb") == "workload.size (GiB)"


# ----------------------------------------------- study tables: modes, holdout seeds


def test_points_of_a_study_run_share_the_suite_seeds():
    raw = make_tune_like()
    df = PT.with_points(raw)
    names = {(m, lab): p for m, lab, p in zip(df["mode"], df["label"], df["point"], strict=True)}
    assert names[("compare", "rfc-default")] == "rfc-default"
    assert names[("tune", "rfc-default")] == "rfc-default (tune #0)"
    assert names[("compare", "tuned")] == "tuned" and names[("tune", "t2")] == "t2"
    assert PT.reference_suite(df) == {(w, s) for w in ("zipf", "hotset") for s in (1, 2)}
    pts = PT.points_table(df).set_index("point")
    # Holdout seed 3 of the final comparison stays out: tuned == t2 (same knobs, same seeds).
    assert pts.loc["tuned", "objective"] == pytest.approx(pts.loc["t2", "objective"])
    sub = raw[(raw["label"] == "tuned") & (raw["seed"] < 3)]
    assert pts.loc["tuned", "hit_rate"] == pytest.approx(
        sub.groupby("workload")["hit_rate"].mean().mean())
    assert pts["complete"].all()
    # The best trial is not shown a second time beside "tuned".
    series = PT.highlighted_points(PT.points_table(df))
    assert series[:2] == ["rfc-default", "tuned"] and "t2" not in series
    tab = TB.comparison_table(df, series)
    assert (tab["n_seeds"] == 2).all()


def test_pareto_zooms_on_crowded_kmmscand_points():
    df = PT.with_points(make_trials(grid=False))
    pts = PT.points_table(df)
    par = TB.pareto_table(pts)
    fig = P.plot_pareto(par, PT.highlighted_points(pts))
    assert len(fig.axes) == 1  # rfc-default and tuned are far apart here: no zoom
    raw = make_tune_like()
    base = make_trials(grid=False)
    base = base[base["label"].isin(["none", "numab2", "oracle"]) & base["workload"]
                .isin(["zipf", "hotset"])].assign(mode="compare", run="st")
    # Slow placement: none hits nothing; numab2 is costly: the kmmscand points crowd.
    base.loc[base["label"] == "numab2", "cost_cpu_s"] *= 10
    base.loc[base["label"] == "none", "hit_rate"] = 0.0
    both = PT.with_points(pd.concat([raw, base], ignore_index=True))
    pts = PT.points_table(both)
    fig = P.plot_pareto(TB.pareto_table(pts), PT.highlighted_points(pts))
    assert len(fig.axes) == 2
    _check_labels(fig)


def test_multi_objective_study_uses_the_first_objective(tmp_path):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "m.journal")))
    study = optuna.create_study(study_name="m", storage=storage,
                                directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_metric_names(["hit_rate", "cost_cpu_s"])
    study.optimize(lambda t: (t.suggest_float("policy.scan_size_mb", 256, 4096) / 4096,
                              t.suggest_float("policy.scan_sleep_ms", 4, 64) / 64), n_trials=15)
    tabs = ST.study_tables(ST.load_study(tmp_path / "m.journal"))
    assert tabs.metric == "hit_rate" and tabs.direction == "maximize"
    np.testing.assert_allclose(tabs.history["value"], [t.values[0] for t in study.trials])
    assert tabs.importances["param"].iloc[0] == "policy.scan_size_mb"
    fig = P.plot_study(tabs)
    assert fig.axes[0].get_ylabel().startswith("fast-tier hit rate (share")


def test_a_bar_of_height_zero_is_labelled(df, series):
    tab = TB.comparison_table(df, series)
    tab.loc[tab["series"] == series[0], "hit_rate_pct"] = 0.0
    fig = P.plot_policy_comparison(tab, TB.comparison_seeds(df, series), series)
    zeros = [t for t in fig.axes[0].texts if t.get_text() == "0"]
    assert len(zeros) == len(WORKLOADS)


def test_a_study_run_draws_no_extra_trials_unless_asked(tmp_path):
    from harness.analysis.runs import load_run
    from harness.experiment.spec import NAMED_LABELS as NAMED
    from harness.report.figures import build_figures

    d = write_run(tmp_path / "r", trials=make_trials(), timeseries=False)
    run = load_run(d)
    figs = {f.key: f for f in build_figures(run, progress=False)}
    drawn = set(figs["1-policies"].tables[0][1]["series"])
    assert drawn <= set(NAMED) and "tuned" in drawn
    figs = {f.key: f for f in build_figures(run, progress=False, extra_points=2)}
    assert len(set(figs["1-policies"].tables[0][1]["series"]) - set(NAMED)) == 2


def test_every_figure_fits_the_reports_column(df, pts, series):
    """At most 10.5 in at 100 dpi: shown at its own size in the 1100 px column,
    so its 9-10 pt text is 12-14 px on the page (not shrunk to 8 px)."""
    tab, seeds = TB.comparison_table(df, series), TB.comparison_seeds(df, series)
    many = pd.concat([tab.assign(workload=tab["workload"] + f"-{i}") for i in range(6)])
    dots = pd.concat([seeds.assign(workload=seeds["workload"] + f"-{i}") for i in range(6)])
    for fig in (P.plot_policy_comparison(many, dots, series),
                P.plot_pareto(TB.pareto_table(pts), series)):
        assert fig.get_figwidth() <= P.PAGE_WIDTH_IN == 10.5
        assert fig.dpi == 100
