"""Regret per workload, intervals over seeds, verdicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.regret import regret_table
from harness.analysis.runs import load_run
from harness.analysis.stats import BETTER, UNCLEAR, WORSE, mean_ci, paired, verdict
from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search.study import own_study_name, run_study
from tests.search.test_tune import load, write


def rows(workload, values, seeds=None):
    seeds = seeds or list(range(1, len(values) + 1))
    return pd.DataFrame({"workload": workload, "seed": seeds, "objective": values})


# ------------------------------------------------------------------ intervals


def test_t_intervals_cover_a_known_mean_near_95_percent():
    rng = np.random.default_rng(12)
    for n in (3, 5):  # a run's seeds: few
        draws = rng.normal(loc=2.5, scale=0.7, size=(4000, n))
        cover = np.mean([lo <= 2.5 <= hi for _, lo, hi in map(mean_ci, draws)])
        # 4000 draws: the standard error of a 95% coverage is 0.0034
        assert 0.935 <= cover <= 0.965, (n, cover)


def test_the_interval_of_three_seeds_by_hand():
    # 1, 2, 3: mean 2, sd 1; Student's t for 2 degrees of freedom at 97.5%
    # is 4.3027 (printed tables), so the half-width is 4.3027 / sqrt(3).
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0
    assert (lo, hi) == pytest.approx((2 - 2.48414, 2 + 2.48414), abs=1e-5)
    # five seeds, 4 degrees of freedom: t = 2.7764; sd of 2, 4, 4, 4, 6 is sqrt(2)
    m, lo, hi = mean_ci([2.0, 4.0, 4.0, 4.0, 6.0])
    assert (m, hi - m) == pytest.approx((4.0, 2.7764 * 2**0.5 / 5**0.5), abs=1e-4)


def test_one_seed_has_no_interval():
    m, lo, hi = mean_ci([3.0])
    assert m == 3.0 and np.isnan(lo) and np.isnan(hi)
    assert paired([3.0], [2.0])["verdict"] == UNCLEAR


def test_a_difference_whose_interval_spans_zero_is_not_better():
    d = paired([2.0, 2.9, 1.4, 2.6], [2.2, 2.0, 1.9, 2.1])  # mean +0.175, noisy
    assert d["diff"] > 0 and d["diff_lo"] < 0 < d["diff_hi"]
    assert d["verdict"] == UNCLEAR
    assert paired([2.3, 2.2, 2.4], [2.0, 2.0, 2.1])["verdict"] == BETTER
    assert paired([1.3, 1.2, 1.4], [2.0, 2.0, 2.1])["verdict"] == WORSE
    # a cost: lower is better
    assert paired([1.3, 1.2, 1.4], [2.0, 2.0, 2.1], "minimize")["verdict"] == BETTER


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=2, max_size=6),
       st.lists(st.floats(-10, 10), min_size=2, max_size=6),
       st.sampled_from(["maximize", "minimize"]))
def test_better_only_where_the_interval_excludes_zero(a, b, direction):
    n = min(len(a), len(b))
    d = paired(a[:n], b[:n], direction)
    sign = 1 if direction == "maximize" else -1
    if d["verdict"] == BETTER:
        assert min(sign * d["diff_lo"], sign * d["diff_hi"]) > 0
    if d["verdict"] == WORSE:
        assert max(sign * d["diff_lo"], sign * d["diff_hi"]) < 0
    if np.isfinite(d["diff_lo"]) and d["diff_lo"] <= 0 <= d["diff_hi"]:
        assert d["verdict"] == UNCLEAR
    assert verdict(float("nan"), 1.0) == UNCLEAR


# --------------------------------------------------------------------- regret


def test_regret_is_zero_where_the_own_best_is_the_shared_default():
    own = pd.concat([rows("a", [2.0, 2.5, 3.0]), rows("b", [5.0, 5.5, 6.0])])
    tuned = pd.concat([rows("a", [2.0, 2.5, 3.0]), rows("b", [4.5, 5.0, 5.5])])
    rfc = pd.concat([rows("a", [1.0, 1.5, 2.5]), rows("b", [4.9, 5.3, 5.2])])
    t = regret_table(own, tuned, rfc).set_index("workload")
    assert t.loc["a", "regret_tuned"] == 0 and t.loc["a", "regret_tuned_rel"] == 0
    assert t.loc["a", "regret_tuned_lo"] == 0 == t.loc["a", "regret_tuned_hi"]
    assert t.loc["b", "regret_tuned"] == pytest.approx(0.5)
    assert t.loc["b", "regret_tuned_rel"] == pytest.approx(0.5 / 5.5)
    assert t.loc["a", "regret_rfc"] == pytest.approx(2.5 - 5 / 3)
    assert t.loc["a", "verdict"] == BETTER and not t.loc["a", "worse_than_rfc"]
    # b: tuned is below the RFC defaults on the mean (flagged), not clearly so
    assert t.loc["b", "worse_than_rfc"] and t.loc["b", "verdict"] == UNCLEAR
    assert not t.loc["b", "significantly_worse"]


def test_regret_pairs_by_seed_on_the_seeds_all_three_ran():
    own = rows("a", [3.0, 3.0, 3.0], [1, 2, 3])
    tuned = rows("a", [1.0, 2.0], [2, 3])
    rfc = rows("a", [0.0, 1.0, 2.0, 9.0], [1, 2, 3, 4])
    t = regret_table(own, tuned, rfc)
    assert t["n_seeds"].tolist() == [2]
    assert t["regret_tuned"].tolist() == [1.5] and t["tuned_minus_rfc"].tolist() == [0.0]


def test_per_workload_studies_give_each_workload_its_own_best(tmp_path):
    """A study with per-workload studies: each workload's own study is in the
    journal; its best knobs are evaluated in the final comparison (label
    own-best) and reproduce the study's value on the study seeds; a space with
    one point makes every own best the shared default: regret exactly 0."""
    p = write(tmp_path, 3)
    text = p.read_text().replace("  trials: 8\n", "  trials: 3\n  per_workload_trials: 2\n")
    p.write_text(text.replace("seeds: [1, 2]", "seeds: [1, 2]\nholdout_seeds: [3]"))
    exp = load_experiment(p)
    out = tmp_path / "out"
    rep = run_study(exp, out, InlineBackend(), progress=False)
    t = pd.read_parquet(out / "trials.parquet")
    own_rows = t[t["mode"] == "own"]
    assert len(own_rows) == 2 * 2 * 2  # workloads x trials x study seeds
    for w in exp.workloads:
        study = load(out, own_study_name(exp, w))
        best = study.best_trial
        ob = t[(t["label"] == "own-best") & (t["workload"] == w)]
        assert sorted(ob["seed"]) == [1, 2, 3]
        assert ob[ob["seed"].isin([1, 2])]["objective"].mean() == pytest.approx(best.value)
        kmm = {k: v for k, v in best.params.items()}
        assert {k: ob[f"param.{k}"].iloc[0] for k in kmm} == kmm
        # the shared default is one of its candidates: never better on the study seeds
        assert [t.params for t in study.trials[:2]][1] == rep.best[0]["params"] or \
            study.trials[0].params == rep.best[0]["params"]
        tuned = t[(t["label"] == "tuned") & (t["workload"] == w) & t["seed"].isin([1, 2])]
        assert ob[ob["seed"].isin([1, 2])]["objective"].mean() >= tuned["objective"].mean()
    assert set(rep.regret["workload"]) == set(exp.workloads)
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["regret"]) == len(exp.workloads)
    assert load_run(out).own["mode"].eq("own").all()
    assert "own" not in set(load_run(out).trials["mode"])

    # One point in the space: every trial, shared or own, is the same knobs.
    one = text.replace("policy.version: [v1, v2, v3]", "policy.version: [v2]").replace(
        "policy.scan_size_mb: {type: int, low: 256, high: 4096, log: true}",
        "policy.scan_size_mb: [512]")
    q = tmp_path / "one.yaml"
    q.write_text(one)
    rep = run_study(load_experiment(q), tmp_path / "one", InlineBackend(), progress=False)
    # the same knobs: shared trials started before trial 0 finished run again (12
    # evaluations, run or reused); every per-workload trial, started after the shared
    # study, reuses them (rows of their own mode, not run again)
    assert rep.own_evaluations_run == 0
    assert rep.evaluations_run + rep.evaluations_identical == 12 + 8
    t = pd.read_parquet(tmp_path / "one" / "trials.parquet")
    assert (t["mode"] == "own").sum() == 8 and t["eval_id"].is_unique
    assert (rep.regret["regret_tuned"] == 0).all()
    assert (rep.regret["regret_tuned_rel"] == 0).all()
