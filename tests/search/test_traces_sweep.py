"""Sweeps and tuning studies take a trace workload like any other (configs/trace-sweep.yaml)."""


import pandas as pd
import pytest

from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search.study import run_study
from harness.search.sweep import run_sweep
from tests.conftest import CONFIGS

CONFIG = CONFIGS / "trace-sweep.yaml"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERSWEEP_CACHE", str(tmp_path / "cache"))


def test_sweep_on_a_trace(tmp_path):
    exp = load_experiment(CONFIG)
    assert {exp.run_config(w, 1).workloads[0].kind for w in exp.workloads} == {"trace"}
    rep = run_sweep(exp, tmp_path / "sweep", InlineBackend(), progress=False)
    assert not rep.outcome.errors
    t = pd.read_parquet(tmp_path / "sweep" / "trials.parquet")
    assert len(t) == 2 * 5  # 2 workloads x (default + 2 x 2 grid points)
    # All pages first on slow: any promotion beats none; first touch: it may not.
    slow = t["workload"].str.contains("slow")
    assert slow.any() and (t.loc[slow, "hit_rate"] > t.loc[slow, "hit_rate_none"]).all()
    assert t["objective"].notna().all() and (t["objective"] > 0).any()


def test_tune_on_a_trace(tmp_path):
    exp = load_experiment(CONFIG)
    rep = run_study(exp, tmp_path / "tune", InlineBackend(), trials=4, progress=False,
                    compare=False)
    assert rep.counts.get("complete", 0) == 4
    assert rep.best and rep.best[0]["values"][0] > 0


def test_sweep_shares_a_converted_trace_and_matches_direct_runs(tmp_path, monkeypatch):
    """The driver converts each trace once and hands the arrays to the tasks
    (no worker re-reads the file); the metrics equal runs that read the trace."""
    import harness.traces as traces
    from harness.model import simulate

    exp = load_experiment(CONFIG)
    calls = []
    real = traces.load_trace_counts

    def counting(w, page_bytes):
        calls.append(w.path)
        return real(w, page_bytes)

    monkeypatch.setattr(traces, "load_trace_counts", counting)
    run_sweep(exp, tmp_path / "sweep", InlineBackend(), progress=False)
    paths = {exp.run_config(w, 1).workloads[0].path for w in exp.workloads}
    assert sorted(calls) == sorted(paths)  # once per trace, not once per evaluation
    t = pd.read_parquet(tmp_path / "sweep" / "trials.parquet")
    row = t[t["label"] == "rfc-default"].sort_values("workload").iloc[0]
    direct = simulate(exp.run_config(row["workload"], int(row["seed"]))).metrics
    for k in ("hit_rate", "promotions", "ptes_scanned", "demotions"):
        assert row[k] == direct[k], k
