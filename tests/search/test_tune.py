"""Studies: resume after an interrupt or a SIGKILLed driver, tuned vs RFC defaults."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from harness.commands.tune import study_text
from harness.errors import ConfigError
from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search._optuna import make_sampler
from harness.search.study import run_study
from tests.conftest import CONFIGS
from tests.helpers.sessions import end_session

ZIPF = str(CONFIGS / "zipf.yaml")

STUDY = """
name: tiny
base: @ZIPF@
set:
  duration_s: @DURATION@
  sample_ms: 2000
  workload: {size_gb: 0.5, placement: slow}
  platform: {nodes: [{id: 0, tier: fast, capacity_gb: 0.125},
                     {id: 1, tier: slow, capacity_gb: 1}]}
suite:
  zipf: {workload: {kind: zipf}}
  hotset: {workload: {kind: hotset, move_every_s: 4}}
seeds: [1, 2]
study:
  space:
    policy.version: [v1, v2, v3]
    policy.scan_size_mb: {type: int, low: 256, high: 4096, log: true}
  sampler: random
  pruner: none
  trials: 8
  schedule: async   # these tests kill drivers between single trials
"""


def write(tmp_path, duration, name="tiny.yaml"):
    p = tmp_path / name
    p.write_text(STUDY.replace("@ZIPF@", ZIPF).replace("@DURATION@", str(duration)))
    return p


def load(out: Path, name="tiny"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def check_consistent(out: Path, n_trials: int, n_evals_per_trial: int):
    """Exactly n complete trials; every one has its evaluations once; retries replace failures."""
    study = load(out)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(complete) == n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    retries = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    for f in failed:  # every failure is a dead/interrupted driver's trial, retried once
        assert f.number in retries
        # with the parameters it had (a kill right after ask() leaves only some suggested)
        assert {k: retries[f.number].params[k] for k in f.params} == f.params
    t = pd.read_parquet(out / "trials.parquet")
    tune = t[t["mode"] == "tune"]
    assert tune["eval_id"].is_unique and t["eval_id"].is_unique
    per_trial = tune.groupby("trial").size()
    assert set(per_trial.index) == {c.number for c in complete}
    assert (per_trial == n_evals_per_trial).all()
    assert len(tune) == n_trials * n_evals_per_trial
    return study


class InterruptAfter(InlineBackend):
    """Runs chunks in-process and raises KeyboardInterrupt after `n` evaluations.

    Many slots: one evaluation per chunk, so a trial can be cut in the middle."""

    def __init__(self, n):
        super().__init__(slots=8)
        self.n = n
        self.seen = 0

    def result(self, task):
        out = super().result(task)
        self.seen += len(out)
        if self.seen > self.n:
            raise KeyboardInterrupt
        return out


def test_interrupted_study_resumes_and_reuses_finished_evaluations(tmp_path):
    exp = load_experiment(write(tmp_path, 4))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_study(exp, out, InterruptAfter(9), progress=False)
    study = load(out)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert TrialState.FAIL in states and TrialState.WAITING in states  # handed to the next run
    done_before = {t.number: t.values for t in study.trials if t.state == TrialState.COMPLETE}
    assert done_before
    rep = run_study(exp, out, InlineBackend(), progress=False)
    assert rep.evaluations_reused >= 1  # the interrupted trial's finished evaluations
    study = check_consistent(out, 8, 4)
    for n, v in done_before.items():
        assert study.trials[n].state == TrialState.COMPLETE and study.trials[n].values == v
    # Running the same command again runs nothing new.
    rep2 = run_study(exp, out, InlineBackend(), progress=False)
    assert rep2.evaluations_run == 0
    check_consistent(out, 8, 4)


def test_sigkill_driver_mid_study_then_rerun(tmp_path):
    """SIGKILL the driver mid-study; the same command finishes the study
    with exactly the requested number of trials, none lost or duplicated."""
    cfg = write(tmp_path, 12)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness", "tune", str(cfg), "--out", str(out), "--cpus", "2",
           "--trials", "8", "--no-progress", "--no-compare"]
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        running_at_kill = []
        complete_at_kill = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if not (out / "study.journal").exists():
                continue
            try:
                trials = load(out).get_trials(deepcopy=False)
            except Exception:  # the study is being created
                continue
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            running = [t for t in trials if t.state == TrialState.RUNNING]
            if len(done) >= 2 and running:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                # The state at the moment of the kill (nothing writes any more).
                trials = load(out).get_trials(deepcopy=False)
                running_at_kill = [t.number for t in trials if t.state == TrialState.RUNNING]
                complete_at_kill = {t.number: t.values for t in trials
                                    if t.state == TrialState.COMPLETE}
                break
        first_log = (tmp_path / "first.log").read_text()[-2000:]
        assert proc.returncode == -signal.SIGKILL, first_log
        assert running_at_kill and complete_at_kill, (running_at_kill, complete_at_kill,
                                                      first_log)
    finally:
        end_session(proc.pid)  # the dead driver's local Ray processes

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "left running by a dead driver" in r.stdout, r.stdout + r.stderr[-2000:]
    study = check_consistent(out, 8, 4)
    for n, v in complete_at_kill.items():  # nothing finished was lost or re-run
        assert study.trials[n].state == TrialState.COMPLETE and study.trials[n].values == v
    for n in running_at_kill:
        assert study.trials[n].state == TrialState.FAIL
    manifest = json.loads((out / "manifest.json").read_text())
    # The killed driver's invocation, marked interrupted at the rerun's start.
    assert [i["status"] for i in manifest["invocations"]] == ["interrupted", "done"]


def test_tune_shipped_suite_at_least_rfc_defaults(tmp_path):
    """A short study on configs/suite.yaml recommends knobs at least as good as
    the RFC defaults on the study seeds, and prints the headline."""
    out = tmp_path / "suite"
    r = subprocess.run([sys.executable, "-m", "harness", "tune", str(CONFIGS / "suite.yaml"), "--out",
                        str(out), "--trials", "8", "--cpus", "2", "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    text = r.stdout
    assert "tuned (trial" in text and "vs rfc-default (RFC V1 defaults) knobs" in text
    assert "mean over study seeds [1, 2, 3]" in text and "mean over holdout seeds [4, 5]" in text
    summary = json.loads((out / "summary.json").read_text())
    agg = [row for row in summary["comparison"] if row["workload"] == "[mean]"]
    assert len(agg) == 2
    # The RFC defaults are trial 0 and within the guards: the recommendation is at
    # least as good on the study seeds (8 trials under the guards may find nothing
    # better: then it is the RFC defaults themselves).
    study_row = next(r for r in agg if r["seeds"] == "study seeds")
    assert study_row["tuned"] >= study_row["rfc-default"] - 1e-12, study_row
    assert "recommended against the RFC defaults (guards: max_hit_loss_points 2" in text
    assert "where each knob exists:" in text
    t = pd.read_parquet(out / "trials.parquet")
    assert {"tune", "compare", "holdout"} == set(t["mode"])
    assert {"rfc-default", "tuned"} <= set(t["label"])
    assert t["eval_id"].is_unique


def test_multi_objective_and_grid_studies_inline(tmp_path):
    text = STUDY.replace("@ZIPF@", ZIPF).replace("@DURATION@", "3")
    multi = text.replace("  pruner: none\n", "  pruner: none\n  objectives: [{metric: hit_rate},"
                         " {metric: cost_cpu_s, direction: minimize, aggregate: worst}]\n"
                         ).replace("sampler: random", "sampler: auto")
    p = tmp_path / "multi.yaml"
    p.write_text(multi)
    rep = run_study(load_experiment(p), tmp_path / "m", InlineBackend(), trials=6,
                    progress=False)
    exp = load_experiment(p)
    assert len(load(tmp_path / "m").directions) == 2
    assert type(make_sampler(exp.study, 0, "x")).__name__ == "NSGAIISampler"
    assert rep.counts == {"complete": 6} and rep.best
    printed = study_text(exp, rep)
    assert "pareto front" in printed and "cost_cpu_s (minimize)" in printed
    grid = text.replace("sampler: random", "sampler: grid").replace(
        "policy.scan_size_mb: {type: int, low: 256, high: 4096, log: true}",
        "policy.scan_size_mb: {type: int, low: 256, high: 4096, grid: [256, 4096]}")
    g = tmp_path / "grid.yaml"
    g.write_text(grid)
    rep = run_study(load_experiment(g), tmp_path / "g", InlineBackend(), trials=None,
                    progress=False, compare=False)
    assert rep.counts == {"complete": 6}  # 3 versions x 2 sizes, the grid's size
    params = {(t.params["policy.version"], t.params["policy.scan_size_mb"])
              for t in load(tmp_path / "g").trials}
    assert len(params) == 6


def test_torn_journal_record_is_dropped(tmp_path):
    exp = load_experiment(write(tmp_path, 3))
    out = tmp_path / "out"
    run_study(exp, out, InlineBackend(), trials=2, progress=False, compare=False)
    journal = out / "study.journal"
    with open(journal, "ab") as f:  # what a writer killed mid-write leaves
        f.write(b'{"op_code": 5, "worker_id": "x", "trial_id": 0, "par')
    rep = run_study(exp, out, InlineBackend(), trials=3, progress=False, compare=False)
    assert journal.read_bytes().endswith(b"\n")
    # --no-compare still names the best trial and its knobs
    text = study_text(exp, rep)
    assert f"best trial {rep.best[0]['number']}: objective" in text
    assert "policy.scan_size_mb" in text and "rfc-default" not in text
    assert len([t for t in load(out).trials if t.state == TrialState.COMPLETE]) == 3


def test_bad_storage_is_named_by_value_in_the_library_and_by_flag_on_the_command_line(
        tmp_path, capsys):
    from harness.cli import main
    from harness.errors import TiersweepError

    cfg = write(tmp_path, 3)
    with pytest.raises(TiersweepError, match="^storage nosuchdb://x: "):
        run_study(load_experiment(cfg), tmp_path / "a", InlineBackend(), trials=1,
                  storage="nosuchdb://x", progress=False)
    rc = main(["tune", str(cfg), "--out", str(tmp_path / "b"), "--backend", "inline",
               "--storage", "nosuchdb://x", "--trials", "1", "--no-progress"])
    assert rc == 2  # the user's URL
    assert "tiersweep: error: --storage nosuchdb://x: " in capsys.readouterr().err



@pytest.mark.parametrize("opts,needle", [
    ({"n_startup_trials": "x"}, "sampler_options.n_startup_trials: expected a value like the "
                                "default 10 of TPESampler, got 'x'"),
    ({"n_startup_trials": 2.5}, "sampler_options.n_startup_trials: expected"),
    ({"n_startup_trial": 5}, "sampler_options.n_startup_trial: unknown option of TPESampler"),
])
def test_sampler_options_checked_before_the_study_runs(opts, needle):
    exp = load_experiment(CONFIGS / "suite.yaml")
    st = dataclasses.replace(exp.study, sampler="tpe", sampler_options=tuple(opts.items()))
    with pytest.raises(ConfigError) as err:
        make_sampler(st, 0, "suite.yaml: study")
    assert needle in str(err.value)


@pytest.mark.parametrize("garbage", [b"\x81\x00\xff garbage\nmore", b"not json\n"])
def test_a_garbage_journal_is_refused_and_left_as_it_was(tmp_path, garbage):
    from harness.errors import InputError

    out = tmp_path / "run"
    out.mkdir()
    (out / "study.journal").write_bytes(garbage)
    exp = load_experiment(CONFIGS / "suite.yaml")
    with pytest.raises(InputError, match="study.journal: not an Optuna journal"):
        run_study(exp, out, InlineBackend(), trials=1, progress=False, compare=False)
    assert (out / "study.journal").read_bytes() == garbage


def test_a_line_per_finished_trial(tmp_path, capsys):
    """The trial table: a header, then trial, state, value, best so far and knobs
    for each finished trial (plain lines here: stderr is not a terminal)."""
    exp = load_experiment(write(tmp_path, 3))
    run_study(exp, tmp_path / "out", InlineBackend(), trials=3, progress=True, compare=False)
    err = capsys.readouterr().err.splitlines()
    head = [i for i, line in enumerate(err) if line.split() == ["trial", "state", "value",
                                                                 "best", "knobs"]]
    assert len(head) == 1
    rows = [line.split() for line in err[head[0] + 1:] if line.split()[:1] in (["0"], ["1"],
                                                                               ["2"])]
    assert [r[0] for r in rows] == ["0", "1", "2"] and {r[1] for r in rows} == {"complete"}
    assert float(rows[-1][3]) == max(float(r[2]) for r in rows)  # best so far (maximize)
    assert all(any(k.startswith("scan_size_mb=") for k in r[4:]) for r in rows)


def test_rerunning_a_finished_study_starts_no_ray(tmp_path, capsys, monkeypatch):
    from harness.cli import main
    from harness.search.study import work_left

    p = write(tmp_path, 3)
    text = p.read_text().replace("  trials: 8\n", "  trials: 2\n  per_workload_trials: 1\n")
    p.write_text(text.replace("seeds: [1, 2]", "seeds: [1, 2]\nholdout_seeds: [3]"))
    out = tmp_path / "out"
    exp = load_experiment(p)
    assert work_left(exp, out)  # nothing there yet
    assert main(["tune", str(p), "--out", str(out), "--backend", "inline",
                 "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert not work_left(exp, out)
    assert work_left(exp, out, trials=3)  # a larger budget: one more trial to run
    import harness.run.backends as backends

    def no_ray(*a, **k):
        raise AssertionError("Ray started for a finished study")

    monkeypatch.setattr(backends, "make_backend", no_ray)
    assert main(["tune", str(p), "--out", str(out), "--no-progress"]) == 0
    again = capsys.readouterr().out
    assert "0 evaluations run" in again
    # the same report: the comparison and the regret table, read from the directory
    assert again.split("\n", 1)[1].split("parameter importance")[0] == \
        first.split("\n", 1)[1].split("parameter importance")[0]
