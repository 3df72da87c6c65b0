"""`tiersweep compare`: the policies x suite x seeds, through the sweep runner."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search import compare as C
from tests.helpers.synth_results import write_run

EXPERIMENT = """
name: tiny
base:
  duration_s: 4
  sample_ms: 1000
  platform:
    nodes:
      - {id: 0, tier: fast, capacity_gb: 0.0625}
      - {id: 1, tier: slow, capacity_gb: 1}
  workload: {kind: zipf, size_gb: 0.25, placement: slow}
  policy: {kind: kmmscand, version: v1}
suite:
  zipf: {}
  hotset: {workload: {kind: hotset, move_every_s: 2}}
seeds: [1]
holdout_seeds: [2]
"""


@pytest.fixture()
def exp_file(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(EXPERIMENT)
    return p


@pytest.fixture()
def tuned(tmp_path):
    return C.tuned_from(write_run(tmp_path / "tuning", timeseries=False))


def test_evaluations_cover_policies_workloads_and_seeds(exp_file, tuned, tmp_path):
    exp = load_experiment(exp_file)
    evals = C.compare_evaluations(exp, list(C.POLICIES), tuned, tmp_path / "out")
    assert len(evals) == 6 * 2 * 2  # policies x workloads x (seed + holdout seed)
    kinds = {e.label: e.cfg.policy.kind for e in evals}
    assert kinds == {"none": "none", "numab2": "numab2", "damon_tier": "damon_tier",
                     "rfc-default": "kmmscand",
                     "tuned": "kmmscand", "oracle": "oracle"}
    t = [e for e in evals if e.label == "tuned"][0]
    assert t.cfg.policy.scan_size_mb == 4096 and t.cfg.policy.scan_sleep_ms == 8
    r = [e for e in evals if e.label == "rfc-default"][0]
    assert r.cfg.policy.scan_size_mb == 1024 and r.cfg.policy.adapt  # V1 defaults, adaptive
    assert r.eval_id == "tiny/compare/default/zipf/s1"  # as the study's final comparison
    assert len({e.eval_id for e in evals}) == len(evals)
    assert {e.mode for e in evals} == {"compare"}


def test_unknown_policy_is_a_config_error(exp_file, tmp_path, capsys):
    exp = load_experiment(exp_file)
    with pytest.raises(ConfigError, match="^policies: unknown lru"):
        C.run_compare(exp, tmp_path / "o", InlineBackend(), policies=["none", "lru"],
                      progress=False)
    # On the command line the same error names the flag.
    rc = main(["compare", str(exp_file), "--out", str(tmp_path / "c"), "--backend", "inline",
               "--policies", "none,lru"])
    assert rc == 2
    assert "tiersweep: error: --policies: unknown lru" in capsys.readouterr().err


def test_run_compare_writes_a_results_directory_and_reuses_it(exp_file, tuned, tmp_path):
    from harness.report.html import write_report

    exp = load_experiment(exp_file)
    out = tmp_path / "cmp"
    rep = C.run_compare(exp, out, InlineBackend(), tuned=tuned, progress=False)
    assert not rep.outcome.errors
    t = pd.read_parquet(out / "trials.parquet")
    assert len(t) == 24 and set(t["mode"]) == {"compare"}
    assert set(t["label"]) == set(C.POLICIES)
    assert (t.loc[t["label"] == "none", "objective"] == 0).all()
    info = json.loads((out / "compare.json").read_text())
    assert info["params"] == {"policy.scan_size_mb": 4096, "policy.scan_sleep_ms": 8}
    manifest = json.loads((out / "manifest.json").read_text())
    assert "compare" in manifest["fingerprints"]
    summ = rep.table.set_index("label")
    want = t[t["label"] == "numab2"].groupby("workload")["objective"].mean().mean()
    assert summ.loc["numab2", "objective"] == pytest.approx(want)
    again = C.run_compare(exp, out, InlineBackend(), tuned=tuned, progress=False)
    assert again.outcome.computed == 0 and again.outcome.reused == 24
    res = write_report(out, progress=False)
    assert set(res.skipped) == {"3-sensitivity", "5-study"}


def test_cli_compare_then_report_and_defaults(exp_file, tmp_path, capsys):
    out = tmp_path / "c"
    rc = main(["compare", str(exp_file), "--out", str(out), "--backend", "inline",
               "--policies", "none,rfc-default,oracle"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "compare tiny: 12 evaluations" in text and "rfc-default" in text
    assert main(["report", str(out)]) == 0
    assert main(["defaults", str(out)]) == 0
    assert "recommended: rfc-default" in capsys.readouterr().out


def test_compare_on_ray(exp_file, tmp_path):
    """The default backend: local Ray (2 CPUs, no dashboard)."""
    from harness.run.backends import make_backend

    exp = load_experiment(exp_file)
    with make_backend("ray", cpus=2) as b:
        rep = C.run_compare(exp, tmp_path / "ray", b, policies=["none", "rfc-default"],
                            progress=False)
    assert not rep.outcome.errors and len(rep.outcome.table) == 8
    assert rep.outcome.table["worker"].nunique() >= 1
