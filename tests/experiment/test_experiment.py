"""Experiment files (suite/sweep/study YAML), aggregation, result store: no Ray."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from harness.errors import ConfigError
from harness.experiment import load_experiment, parse_space
from harness.run.store import ResultStore, read_trials
from harness.run.worker import timeseries_long
from harness.search.aggregate import aggregate, suite_value

# The tests name shipped files as a user types them (configs/zipf.yaml).
pytestmark = pytest.mark.usefixtures("in_repo")

ZIPF = "configs/zipf.yaml"



BASE = """
base: {base}
set: {duration_s: 5, sample_ms: 5000, workload: {size_gb: 0.25, placement: slow},
      platform: {nodes: [{id: 0, tier: fast, capacity_gb: 0.0625},
                          {id: 1, tier: slow, capacity_gb: 0.5}]}}
suite:
  zipf: {workload: {kind: zipf}}
  hotset: {workload.kind: hotset, workload.move_every_s: 2}
seeds: [1, 2]
"""


@pytest.fixture
def exp_text():
    import os

    return BASE.replace("{base}", os.path.abspath(ZIPF))


def test_shipped_suite_loads():
    exp = load_experiment("configs/suite.yaml")
    assert exp.name == "suite"
    assert exp.workloads == ["zipf", "hotset", "uniform", "sequential"]
    assert exp.study is not None and exp.sweep is not None
    # The study space is conditional on the policy version.
    cond = [p for p in exp.study.space if p.when]
    assert cond and cond[0].when[0][0] == "policy.version"
    cfg = exp.run_config("hotset", 2, {"policy.version": "v3"})
    assert cfg.seed == 2 and cfg.workloads[0].kind == "hotset"
    # Unset knobs keep the chosen version's defaults (v3's scan_sleep_ms is 20, v1's 16).
    assert cfg.policy.scan_sleep_ms == 20
    assert exp.run_config("hotset", 2).policy.scan_sleep_ms == 16


def test_sweep_points_grid_random_deterministic(tmp_path, exp_text, write_yaml):
    p = write_yaml(exp_text + """
sweep:
  grid: {policy.version: [v1, v3]}
  random: {policy.scan_size_mb: {type: int, low: 256, high: 4096, log: true}}
  samples: 3
  seed: 7
""")
    exp = load_experiment(p)
    pts = exp.sweep_points()
    assert [pt.label for pt in pts][:2] == ["rfc-default", "p0001"]
    assert len(pts) == 1 + 2 * 3
    assert pts[0].params == {"policy.version": "v1", "policy.scan_size_mb": 1024}
    again = load_experiment(p).sweep_points()
    assert [pt.params for pt in pts] == [pt.params for pt in again]
    for pt in pts[1:]:
        assert 256 <= pt.params["policy.scan_size_mb"] <= 4096


@pytest.mark.parametrize("snippet,needle", [
    ("sweep: {grid: {policy.scan_sise_mb: [1, 2]}}", "policy.scan_sise_mb: unknown field"),
    ("sweep: {grdi: {policy.scan_size_mb: [1]}}", "sweep.grdi: unknown field"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 10, hihg: 20}}}",
     "study.space.policy.scan_size_mb.hihg: unknown field"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 100, high: 20}}}",
     "study.space.policy.scan_size_mb.low: expected low <= high"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 0, high: 20, log: true}}}",
     "log-scale parameter needs low > 0"),
    ("study: {space: {policy.nope: {type: int, low: 1, high: 2}}}",
     "study.space.policy.nope: value 1 is not accepted"),
    ("study: {space: {policy.version: [v1, v9]}}", "study.space.policy.version: value 'v9'"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}}, aggregate: median}",
     "study.aggregate: expected one of mean, worst, gmean"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}}, sampler: cma}",
     "study.sampler: expected one of"),
    ("study: {space: {policy.scan_size_mb: {type: float, low: 1, high: 2}}, sampler: grid}",
     "the grid sampler needs `grid: [values]`"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}},\n"
     "        objectives: [{metric: hit_rate}, {metric: cost_cpu_s, direction: minimize}],\n"
     "        pruner: median}", "prunes single-objective studies only"),
    ("seeds: [1, 1]", "seeds: duplicate seeds"),
    ("seeds: [1, -2]", "seeds: expected integers >= 0, got -2"),
    ("sweep: {seed: x, grid: {policy.scan_size_mb: [512]}}", "sweep.seed: expected an integer"),
    ("sweep: {grid: {policy.scan_size_mb: []}}",
     "sweep.grid.policy.scan_size_mb: expected a non-empty list of values"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}},\n"
     "        objectives: [{direction: minimize}]}", "study.objectives[0].metric: missing"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}},\n"
     "        pruner: {kind: median, n_warmup_steps: x}}", "study.pruner.n_warmup_steps: expected"),
    ("bogus: 1", "bogus: unknown field"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}},\n"
     "        objectives: [{metric: hit_rat}]}",
     "study.objectives[0].metric: unknown metric 'hit_rat'; did you mean hit_rate?"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}}, timeout_s: .nan}",
     "study.timeout_s: expected a finite number"),
    ("study: {space: {policy.scan_size_mb: {type: int, low: 1, high: 2}}, gmean_shift: .inf}",
     "study.gmean_shift: expected a finite number"),
])
def test_bad_fields_name_file_and_path(tmp_path, exp_text, snippet, needle, write_yaml):
    text = exp_text.replace("seeds: [1, 2]\n", "") + snippet + "\n"
    if not snippet.startswith("seeds"):
        text += "seeds: [1, 2]\n"
    p = write_yaml(text)
    with pytest.raises(ConfigError) as exc:
        load_experiment(p)
    msg = str(exc.value)
    assert msg.startswith(str(p)), msg
    assert needle in msg, msg
    assert "\n" not in msg


def test_space_keeps_numbers_as_written():
    """A space's repr is part of a run directory's fingerprint: an int bound stays an
    int and a float a float, as the file wrote them."""
    space = parse_space({"policy.scan_size_mb": {"type": "int", "low": 256, "high": 4096,
                                                 "log": True},
                         "policy.version": ["v1", "v3"],
                         "policy.a_bit_miss": {"type": "float", "low": 0, "high": 0.5,
                                               "when": {"policy.version": ["v1", "v3"]}}},
                        "study.space")
    assert [repr(p) for p in space] == [
        "Param(key='policy.scan_size_mb', type='int', low=256, high=4096, log=True, step=None, "
        "choices=(), when=(), grid=())",
        "Param(key='policy.version', type='categorical', low=None, high=None, log=False, "
        "step=None, choices=('v1', 'v3'), when=(), grid=())",
        "Param(key='policy.a_bit_miss', type='float', low=0, high=0.5, log=False, step=None, "
        "choices=(), when=(('policy.version', ('v1', 'v3')),), grid=())"]


def test_bad_suite_entry(tmp_path, exp_text, write_yaml):
    p = write_yaml(exp_text.replace("hotset: {workload.kind: hotset",
                                         "hotset: {workload.kind: hotsett"))
    with pytest.raises(ConfigError) as exc:
        load_experiment(p)
    assert "suite.hotset" in str(exc.value) and "workloads[0].kind" in str(exc.value)


def test_cli_bad_field_exit_code_2(tmp_path, exp_text, write_yaml):
    p = write_yaml(exp_text + "sweep: {grid: {policy.scan_sise_mb: [1]}}\n")
    for cmd in ("sweep", "tune"):
        r = subprocess.run([sys.executable, "-m", "harness", cmd, str(p), "--backend", "inline"],
                           capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(p) in lines[0], r.stderr


def test_aggregate_definitions():
    assert aggregate([1, 2, 3], "mean") == 2
    assert aggregate([1, 2, 3], "worst", "maximize") == 1
    assert aggregate([1, 2, 3], "worst", "minimize") == 3
    # Shifted geometric mean: plain gmean at shift 0, defined for zero and negatives > -shift.
    assert math.isclose(aggregate([1, 4], "gmean", shift=0), 2.0)
    assert math.isclose(aggregate([0, 3], "gmean", shift=1), 1.0)
    assert aggregate([-0.5, 3], "gmean", shift=1) < aggregate([0, 3], "gmean", shift=1)
    # At or below -shift: clamped, the aggregate sinks towards -shift.
    assert -1 < aggregate([-2, 3], "gmean", shift=1) < -0.99
    assert math.isnan(aggregate([1, float("nan")], "mean"))
    v = suite_value({"a": [1, 3], "b": [4]}, ["a", "b"], "mean")
    assert v == 3


def test_timeseries_long_layout():
    ts = {"t_s": [1.0, 2.0], "hit_rate": [0.1, 0.2], "queue_len": [0, 3],
          "scan_period_ms": [[500, 600], [700, None]], "scan_size_mb": [[1.0, 2.0], [3.0]]}
    out = pd.DataFrame(timeseries_long(ts))
    assert list(out["sample"]) == [0, 0, 1, 1]
    assert list(out["mm"]) == [0, 1, 0, 1]
    assert list(out["t_s"]) == [1.0, 1.0, 2.0, 2.0]
    assert out["scan_period_ms"].tolist()[:3] == [500, 600, 700]
    assert np.isnan(out["scan_period_ms"].iloc[3]) and np.isnan(out["scan_size_mb"].iloc[3])
    none = pd.DataFrame(timeseries_long({"t_s": [1.0], "hit_rate": [0.5],
                                         "scan_period_ms": [[]], "scan_size_mb": [[]]}))
    assert list(none["mm"]) == [-1] and np.isnan(none["scan_size_mb"].iloc[0])


def test_store_appends_dedups_and_survives_restart(tmp_path):
    st = ResultStore(tmp_path, flush_s=0)
    ts = pd.DataFrame({"eval_id": "a", "t_s": [1.0]})
    st.add({"eval_id": "a", "trial": 0, "objective": 1.0}, ts)
    st.add({"eval_id": "b", "trial": 0, "objective": 2.0})
    st.flush()
    st.add({"eval_id": "a", "trial": 5, "objective": 1.0})  # re-attributed: newest wins
    st.flush()
    assert len(list((tmp_path / "parts").glob("trials-*.parquet"))) == 2
    t = read_trials(tmp_path)  # readable before consolidation
    assert sorted(t["eval_id"]) == ["a", "b"] and t.set_index("eval_id")["trial"]["a"] == 5
    st2 = ResultStore(tmp_path)  # a restart consolidates the parts
    assert not list((tmp_path / "parts").glob("*.parquet"))
    assert "a" in st2 and st2.get("a")["trial"] == 5 and len(st2) == 2
    assert len(pd.read_parquet(tmp_path / "timeseries.parquet")) == 1
