"""`tune --dry-run`'s line per workload: footprint, fast tier, duration."""

from __future__ import annotations

import re

import pytest
import yaml

from harness.experiment import load_experiment
from harness.search.plan import footprint_lines
from tests.conftest import REPO

LINE = re.compile(r"^(\S+): footprint (\d+\.\d) GiB, fast (\d+\.\d) GiB, (\d+(?:\.\d+)?) s$")


def test_footprint_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERSWEEP_CACHE", str(tmp_path / "cache"))
    trace = REPO / "configs" / "real" / "sqlite-query.parquet"
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(yaml.safe_dump({
        "name": "fp",
        "set": {"duration_s": 30, "platform": {"nodes": [
            {"id": 0, "tier": "fast", "capacity_gb": 2}, {"id": 1, "tier": "slow",
                                                           "capacity_gb": 64}]}},
        "suite": {
            "graph": {"workload": {"kind": "graph", "size_gb": 16}},
            "kv": {"workload": {"kind": "kvcache", "size_gb": 8, "processes": 3},
                   "platform": {"fast_share_of_footprint": 0.5}, "duration_s": 300},
            "sqlite": {"workload": {"kind": "trace", "format": "columnar", "window_ms": 500,
                                    "path": str(trace), "scale_to_gb": 4},
                       "platform": {"fast_share_of_footprint": 0.25}},
        },
        "seeds": [1],
    }))
    lines = footprint_lines(load_experiment(exp_file)).splitlines()
    assert lines[0] == "graph: footprint 16.0 GiB, fast 2.0 GiB, 30 s"
    # 8 GiB in three processes: whole pages each, a few pages short of 8 GiB.
    assert lines[1] == "kv: footprint 8.0 GiB, fast 4.0 GiB, 300 s"
    assert lines[2] == "sqlite: footprint 4.0 GiB, fast 1.0 GiB, 30 s"
    assert all(LINE.match(x) for x in lines)


def test_short_duration():
    from harness.search.plan import SHORT_MIN_S, short_duration

    assert short_duration(10) == 10                  # short runs are timed whole
    assert short_duration(60) == SHORT_MIN_S
    assert short_duration(600) == 40                 # a fifteenth of a long one


def test_tune_dry_run_estimates_from_short_simulations(tmp_path, capsys, monkeypatch):
    """A 60 s suite is planned from 20 s simulations (never a full one), and the
    plan keeps one `NAME: footprint ... GiB, fast ... GiB, 60 s` line a workload."""
    import harness.search.plan as plan
    from harness.cli import main
    from tests.helpers.experiments import tiny_study

    simulated: list[float] = []
    real_sim = plan.Sim

    class Recording(real_sim):
        def run(self):
            simulated.append(self.cfg.duration_s)
            return super().run()

    monkeypatch.setattr(plan, "Sim", Recording)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(tiny_study("est", "  trials: 3\n", duration_s=60))
    assert main(["tune", str(cfg), "--out", str(tmp_path / "run"), "--dry-run",
                 "--trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "estimated now from simulations of at most 20 s" in out
    assert simulated and max(simulated) == 20.0
    lines = [x for x in out.splitlines() if ": footprint " in x]
    assert len(lines) == 2 and all(LINE.match(x) and x.endswith(", 60 s") for x in lines)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("schedule, early", [("generations", False), ("async", True)])
def test_only_async_studies_say_pruned_trials_stop_early(tmp_path, capsys, schedule, early):
    from harness.cli import main
    from tests.helpers.experiments import tiny_study

    cfg = tmp_path / "exp.yaml"
    cfg.write_text(tiny_study("early", f"  trials: 3\n  schedule: {schedule}\n"))
    assert main(["tune", str(cfg), "--out", str(tmp_path / "run"), "--dry-run"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("tune plan: 3 trials x 2 workloads (zipf, hotset) x 2 seeds = 12")
    assert ("(at most: pruned trials stop early)" in first) == early
