"""Normalized studies: generations told in trial-number order, the same answer
whatever the completion order, guards as Optuna constraints, the choice on
holdout seeds."""

import json
import random

import optuna
import pandas as pd
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from harness.analysis.normalize import References
from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search.study import run_study
from tests.helpers.experiments import tiny_header

STUDY = tiny_header("gen", 4, seeds=[1], holdout_seeds=[2]) + """study:
  space:
    policy.scan_size_mb: {type: int, low: 16, high: 4096, log: true}
    policy.scan_sleep_ms: {type: int, low: 10, high: 100, log: true}
    policy.dedup: [false, true]
  objectives: [norm_objective]
  constraints: {max_hit_loss_points: 2, max_cpu_percent: @CPU@}
  sampler: tpe
  sampler_options: {n_startup_trials: 3}
  generation_size: 3
  trials: 7
  top_k: 3
"""


class ShuffledBackend(InlineBackend):
    """Several slots; each wait finishes a random task in flight (another
    completion order per `seed`)."""

    def __init__(self, seed: int, slots: int = 4):
        super().__init__(slots)
        self.rng = random.Random(seed)

    def wait(self, tasks, timeout):
        if not tasks:
            return [], []
        i = self.rng.randrange(len(tasks))
        tasks[i].run()
        return [tasks[i]], tasks[:i] + tasks[i + 1:]


def _exp(tmp_path, cpu=1000, schedule="generations"):
    p = tmp_path / "gen.yaml"
    text = STUDY.replace("@CPU@", str(cpu))
    if schedule != "generations":
        text += f"  schedule: {schedule}\n"
    p.write_text(text)
    return load_experiment(p)


def _study(out):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="gen", storage=JournalStorage(
        JournalFileBackend(str(out / "study.journal"))))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same study three times: one slot in order, four slots in two random
    completion orders."""
    out = {}
    for name, backend in (("inline", InlineBackend()), ("shuffle-a", ShuffledBackend(1)),
                          ("shuffle-b", ShuffledBackend(2))):
        d = tmp_path_factory.mktemp(name)
        exp = _exp(d)
        rep = run_study(exp, d / "run", backend, progress=False)
        out[name] = (exp, d / "run", rep)
    return out


def test_generations_are_told_in_trial_number_order(runs):
    for _, out, _ in runs.values():
        told = json.loads((out / "summary.json").read_text())["told"]
        # Each generation of 3 is told in trial-number order, one generation after another.
        assert told == sorted(told) == list(range(7))


def test_same_trials_and_recommendation_whatever_the_completion_order(runs):
    params = {name: [t.params for t in _study(out).get_trials()] for name, (_, out, _) in
              runs.items()}
    assert params["inline"] == params["shuffle-a"] == params["shuffle-b"]
    recs = {name: rep.choice["recommendation"]["params"] for name, (_, _, rep) in runs.items()}
    assert recs["inline"] == recs["shuffle-a"] == recs["shuffle-b"]


def test_top_k_recommendation_is_the_holdout_best(runs):
    exp, out, rep = runs["inline"]
    t = pd.read_parquet(out / "trials.parquet")
    ref = t[(t["mode"] == "compare")]
    refs = References.from_rows(ref[ref["label"] == "oracle"], ref[ref["label"] == "rfc-default"])
    topk = [r for r in rep.choice["topk"] if r["kind"] == "trial"]
    assert len(topk) == 3
    # The holdout value of each candidate, recomputed from its holdout rows.
    values = {}
    for r in topk:
        rows = t[t["eval_id"].str.contains(f"/holdout/t{r['trial']:05d}/")]
        assert set(rows["seed"]) == {2}
        d = refs.derive_frame(rows)
        values[r["trial"]] = d.groupby("workload")["norm_objective"].mean().mean()
        assert values[r["trial"]] == pytest.approx(r["holdout_value"])
    feasible = [n for n in values if next(r for r in topk if r["trial"] == n)
                ["holdout_feasible"]] or list(values)
    assert rep.choice["recommendation"]["trial"] == max(feasible, key=values.get)
    # The kernel-settable recommendation holds the proposed knob at the kernel's.
    assert rep.choice["kernel"]["params"]["policy.dedup"] is False


def test_cpu_budget_marks_infeasible_trials_and_keeps_them(tmp_path):
    exp = _exp(tmp_path, cpu=0.5)
    run_study(exp, tmp_path / "run", InlineBackend(), progress=False, compare=False)
    trials = _study(tmp_path / "run").get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials) and len(trials) == 7
    marked = 0
    for t in trials:
        per = t.user_attrs["per_workload"]
        cpu = max(per["cpu_percent"].values())
        loss = max(per["hit_loss_points"].values())
        assert t.constraints["max_cpu_percent"] == pytest.approx(cpu - 0.5)
        assert t.constraints["max_hit_loss_points"] == pytest.approx(loss - 2)
        marked += any(v > 0 for v in t.constraints.values())
        assert (cpu <= 0.5 and loss <= 2) == all(v <= 0 for v in t.constraints.values())
    assert marked >= 1  # the budget is tight enough to exclude some trial
