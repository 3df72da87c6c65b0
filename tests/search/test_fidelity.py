"""Multi-fidelity studies: rungs over duration_s decided by Optuna's successive
halving, pruned trials in the storage with their intermediate values, the same
pruned set and recommendation whatever the number of workers, resumption, and
the fidelity section's refusals."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from harness.cli import main
from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search.study import run_study
from tests.helpers.experiments import tiny_study
from tests.search.test_generations import ShuffledBackend

STEPS = (10, 20)  # 20 s, reduction factor 2, at least 10 s: rungs of 10 and 20 s
FIDELITY = """  trials: 9
  generation_size: 3
  top_k: 2
  constraints: {max_hit_loss_points: 5}
  fidelity: {pruner: successive_halving, min_duration_s: 10, reduction_factor: 2}
"""


def _exp(tmp_path, study: str = FIDELITY):
    p = tmp_path / "fid.yaml"
    p.write_text(tiny_study("fid", study, duration_s=20, holdout=True,
                            metric="norm_objective"))
    return load_experiment(p)


def _trials(out):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="fid", storage=JournalStorage(
        JournalFileBackend(str(out / "study.journal")))).get_trials()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ray_backend):
    """The same study on one slot, on two slots finishing in a random order, and on
    local Ray with two CPUs."""
    out = {}
    for name, backend in (("inline", InlineBackend()), ("shuffled", ShuffledBackend(3, 2)),
                          ("ray", ray_backend)):
        d = tmp_path_factory.mktemp(name)
        rep = run_study(_exp(d), d / "run", backend, progress=False)
        out[name] = (d / "run", rep)
    return out


def test_pruned_trials_are_stored_pruned_with_their_intermediate_values(runs):
    out, rep = runs["inline"]
    trials = _trials(out)
    assert len(trials) == 9
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 9
    for t in pruned:
        assert set(t.intermediate_values) == {STEPS[0]}
    for t in complete:
        assert set(t.intermediate_values) == set(STEPS)
        assert t.intermediate_values[STEPS[-1]] == pytest.approx(t.value)
    rows = pd.read_parquet(out / "trials.parquet")
    tune = rows[rows["mode"] == "tune"]
    short = tune[tune["eval_id"].str.contains(f"@{STEPS[0]}s/", regex=False)]
    # Every trial ran the first rung (2 workloads x 2 seeds at 10 s), only the
    # survivors the full 20 s.
    assert len(short) == 9 * 4 and set(short["duration_s"]) == {10.0}
    full = tune.drop(short.index)
    assert set(full["trial"]) == {t.number for t in complete}
    assert set(full["duration_s"]) == {20.0}
    summary = json.loads((out / "summary.json").read_text())["fidelity"]
    assert summary["steps_s"] == list(STEPS) and summary["pruned"] == len(pruned)
    assert summary["evaluations_run"] == [9 * 4, len(complete) * 4]


def test_prune_decisions_follow_trial_number_order(runs):
    """Successive halving at rung 0, recomputed: trial n goes on iff its value is
    in the best half of the rung values of trials 0..n (each reported before it)."""
    trials = sorted(_trials(runs["inline"][0]), key=lambda t: t.number)
    seen: list[float] = []
    for t in trials:
        v = t.intermediate_values[STEPS[0]]
        seen.append(v)
        k = max(len(seen) // 2 - 1, 0)
        promoted = v >= sorted(seen)[-(k + 1)]
        assert (t.state == TrialState.COMPLETE) == promoted, t.number


def test_same_pruned_set_and_recommendation_on_one_and_two_workers(runs):
    def outcome(name):
        out, rep = runs[name]
        return ([(t.number, t.state.name, t.params, t.intermediate_values)
                 for t in _trials(out)], rep.choice["recommendation"]["params"])

    assert outcome("inline") == outcome("shuffled") == outcome("ray")


def test_an_interrupted_study_resumes_and_reuses_its_rungs(tmp_path, monkeypatch):
    from harness.search.driver import Driver

    exp = _exp(tmp_path)
    out = tmp_path / "run"
    calls = []
    advance = Driver.advance

    def interrupted(self):
        calls.append(1)
        if len(calls) == 2:  # the first generation's survivors ran their second rung
            raise KeyboardInterrupt
        advance(self)

    monkeypatch.setattr(Driver, "advance", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(exp, out, InlineBackend(), progress=False)
    monkeypatch.setattr(Driver, "advance", advance)
    # The trials in flight are handed on: failed, their knobs enqueued again.
    left = _trials(out)
    assert any(t.state == TrialState.FAIL for t in left)
    assert any(t.state == TrialState.WAITING for t in left)
    rep = run_study(exp, out, InlineBackend(), progress=False)
    trials = _trials(out)
    assert rep.evaluations_reused > 0
    assert not any(t.state == TrialState.RUNNING for t in trials)
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    counted = [t for t in trials if t.number not in retried]
    assert len(counted) == 9  # the budget: the interrupted trials were retried, not added
    assert any(t.state == TrialState.PRUNED and t.intermediate_values for t in counted)
    assert rep.choice["recommendation"]["params"]


@pytest.mark.parametrize("fidelity, needle", [
    ("{pruner: median}", "study.fidelity.pruner: expected one of 'successive_halving', "
                         "'hyperband', got 'median'"),
    ("{reduction_factor: 1}", "study.fidelity.reduction_factor: expected an integer in "
                              "[2, 10], got 1"),
    ("{min_duration_s: 5}", "study.fidelity.min_duration_s: expected seconds >= 10, got 5"),
    ("{min_duration_s: 15, reduction_factor: 2}", "study.fidelity.min_duration_s: expected "
                                                  "at most 10 s"),
    ("{rungs: 3}", "study.fidelity.rungs: unknown field"),
    ("{pruner: hyperband}\n  schedule: async", "study.fidelity: needs schedule: generations"),
    ("{}\n  pruner: median", "study.pruner: the fidelity section's pruner decides"),
    ("{min_duration_s: 10}\n  baselines: [numab2, foo]",
     "study.baselines[1]: expected one of 'none', 'numab2', 'damon_tier', got 'foo'"),
])
def test_bad_fidelity_fields_are_one_line_errors(tmp_path, capsys, fidelity, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(tiny_study("bad", f"  fidelity: {fidelity}\n", duration_s=20))
    assert main(["tune", str(p), "--out", str(tmp_path / "run"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and str(p) in err[0], err
    assert not (tmp_path / "run").exists()


def test_dry_run_shows_the_budget_per_rung(tmp_path, capsys):
    p = tmp_path / "fid.yaml"
    p.write_text(tiny_study("fid", FIDELITY, duration_s=20, holdout=True,
                            metric="norm_objective"))
    assert main(["tune", str(p), "--out", str(tmp_path / "run"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "multi-fidelity (successive_halving, reduction factor 2): rungs of 10 s, 20 s" in out
    # 9 trials x 4 evaluations at 10 s (and the references at 10 s), half of them at 20 s
    assert "rung 10 s: 9 trials, 36 evaluations, 36 to run (and 8 references at 10 s)" in out
    assert "rung 20 s: 4 trials expected (at most 9), 18 evaluations, 18 to run" in out
    assert "pruned trials stop early" not in out


def test_hyperband_reports_every_rung_and_completes_survivors(tmp_path):
    exp = _exp(tmp_path, FIDELITY.replace("successive_halving", "hyperband"))
    rep = run_study(exp, tmp_path / "run", InlineBackend(), progress=False, compare=False)
    trials = _trials(tmp_path / "run")
    assert len(trials) == 9 and rep.fidelity["pruner"] == "hyperband"
    assert any(t.state == TrialState.COMPLETE for t in trials)  # survivors ran in full
    assert rep.fidelity["pruned"] == sum(t.state == TrialState.PRUNED for t in trials)
    for t in trials:
        want = set(STEPS) if t.state == TrialState.COMPLETE else {STEPS[0]}
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert set(t.intermediate_values) == want
