"""Closed-loop runtime model (issue 6): exact identities and monotonicity."""

import math

import pytest

from harness.config import from_dict
from harness.model import simulate


def closed_loop(policy="none", placement="slow", slow_latency=220.0, **runtime):
    rt = dict(enabled=True, threads=4, iterations=400, think_us=1.0, step_ms=50)
    rt.update(runtime)
    return from_dict({
        "duration_s": 600,
        "platform": {"nodes": [
            {"id": 0, "tier": "fast", "capacity_gb": 1, "latency_ns": 90},
            {"id": 1, "tier": "slow", "capacity_gb": 1, "latency_ns": slow_latency}]},
        "workload": {"kind": "zipf", "size_gb": 0.125, "placement": placement, "vma_mb": 32},
        "policy": {"kind": policy},
        "runtime": rt,
    })


def test_all_fast_and_no_migration_equals_all_fast_time():
    m = simulate(closed_loop("none", placement="fast")).metrics
    assert m["completed"] == 1
    assert m["promotions"] == 0
    assert m["completion_s"] == pytest.approx(m["all_fast_s"], rel=1e-6)
    assert m["runtime_penalty_s"] == pytest.approx(0.0, abs=1e-9)
    assert m["runtime_stall_s"] == 0.0
    # accesses per thread x (think + fast cost) for the derived work
    pages = 0.125 * 2**30 / 4096
    assert m["all_fast_s"] == pytest.approx(400 * pages / 4 * (1.0 + 0.090) / 1e6, rel=1e-9)


def test_all_slow_time_is_exact():
    m = simulate(closed_loop("none", placement="slow")).metrics
    pages = 0.125 * 2**30 / 4096
    assert m["completion_s"] == pytest.approx(400 * pages / 4 * (1.0 + 0.220) / 1e6, rel=1e-6)


@pytest.mark.parametrize("policy", ["none", "kmmscand", "numab2"])
def test_runtime_grows_with_slow_latency(policy):
    times = [simulate(closed_loop(policy, slow_latency=lat)).metrics["completion_s"]
             for lat in (150.0, 300.0, 600.0, 1200.0)]
    assert all(math.isfinite(t) for t in times)
    assert times == sorted(times) and times[0] < times[-1]


@pytest.mark.parametrize("policy", ["none", "kmmscand", "numab2", "oracle"])
def test_completion_splits_into_fast_time_penalty_and_stalls(policy):
    m = simulate(closed_loop(policy)).metrics
    total = m["all_fast_s"] + m["runtime_penalty_s"] + m["runtime_stall_s"]
    assert m["completion_s"] == pytest.approx(total, rel=1e-9)


def test_overheads_add_up_to_the_difference_between_policies():
    a = simulate(closed_loop("kmmscand")).metrics
    b = simulate(closed_loop("numab2")).metrics
    assert a["all_fast_s"] == b["all_fast_s"]
    diff = b["completion_s"] - a["completion_s"]
    parts = ((b["runtime_penalty_s"] - a["runtime_penalty_s"])
             + (b["runtime_stall_s"] - a["runtime_stall_s"]))
    assert diff == pytest.approx(parts, rel=1e-9, abs=1e-9)


def test_promotion_beats_no_promotion_and_stalls_cost_time():
    none = simulate(closed_loop("none")).metrics
    kmm = simulate(closed_loop("kmmscand")).metrics
    assert kmm["promotions"] > 0
    assert kmm["completion_s"] < none["completion_s"]
    slow_ipi = simulate(closed_loop("kmmscand").replace({"costs.tlb_shootdown_us": 50.0})).metrics
    assert slow_ipi["runtime_stall_s"] > kmm["runtime_stall_s"]


def test_runtime_rejects_counts_workloads():
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="runtime.enabled"):
        from_dict({"workload": {"kind": "counts", "counts": [[1, 2]]},
                   "runtime": {"enabled": True}})


def test_shipped_calibration_reproduces_the_8gb_figures():
    """The committed constants (configs/abench/calibrated.yaml) still fit: times
    within 5 %, overhead split within 25 % of MODEL.md's 8 GB figures."""
    from harness.tools import calibrate as cal

    rows = cal.predict(sizes=(8,), policies=("none", "numab2", "kmmscand-v0"))
    for r in rows:
        assert abs(r["error_pct"]) < 5, r
        for k, pub in r["published_overheads"].items():
            assert r["overheads"][k] == pytest.approx(pub, rel=0.25), (r["policy"], k)


def test_saturated_slow_tier_bandwidth_slows_the_work():
    cfg = closed_loop("none")
    free = simulate(cfg).metrics["completion_s"]
    # 4 threads x ~0.8 M accesses/s x 4 KiB = ~13 GB/s demanded of the slow node
    tight = cfg.replace({"runtime.bytes_per_access": 4096, "platform.nodes.1.bandwidth_gbps": 1})
    m = simulate(tight).metrics
    assert m["completion_s"] > 5 * free
    # at saturation the node serves exactly its bandwidth
    pages = 0.125 * 2**30 / 4096
    accesses = 400 * pages / 4 * 4
    assert m["completion_s"] == pytest.approx(accesses * 4096 / 1e9, rel=0.05)


def test_runtime_is_a_study_objective(tmp_path):
    """completion_s as a study objective on the shipped runtime study (inline backend)."""
    import subprocess
    import sys

    import pandas as pd

    out = tmp_path / "rt"
    r = subprocess.run([sys.executable, "-m", "harness", "tune", "configs/runtime-study.yaml",
                        "--backend", "inline", "--out", str(out), "--trials", "3",
                        "--no-progress", "--set", "runtime.iterations=32"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "completion_s (minimize" in r.stdout
    df = pd.read_parquet(out / "trials.parquet")
    assert df["completed"].eq(1).all()
    assert (df["completion_s"] >= df["all_fast_s"]).all()
