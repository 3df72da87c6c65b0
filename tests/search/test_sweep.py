"""Sweeps: resume, identical results on 1 and 2 CPUs, a killed Ray worker, shared arrays."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from harness.experiment import load_experiment
from harness.run.backends import InlineBackend, RayBackend
from harness.run.runner import Evaluation, Scheduler, run_evaluations
from harness.search.sweep import run_sweep, sweep_evaluations
from tests.conftest import CONFIGS
from tests.helpers.experiments import tiny_suite
from tests.helpers.kill import assert_retried_like_inline, long_single_point, sweep_with_one_kill

ZIPF = str(CONFIGS / "zipf.yaml")

# 2 workloads x 2 seeds x (default + 2 x 2 points) = 20 tiny evaluations.
SMALL = tiny_suite("small", """  grid: {policy.version: [v1, v3]}
  random: {policy.scan_size_mb: {type: int, low: 256, high: 4096, log: true}}
  samples: 2
  seed: 3
""")

# Metrics that depend on the machine, not on the configuration.
VOLATILE = {"wall_s", "eval_wall_s", "worker", "node", "finished_at"}



def metrics_frame(path):
    t = pd.read_parquet(path)
    cols = [c for c in t.columns if c not in VOLATILE]
    return t[cols].sort_values("eval_id").reset_index(drop=True)


def test_inline_sweep_and_resume(tmp_path, write_yaml):
    exp = load_experiment(write_yaml(SMALL))
    out = tmp_path / "out"
    rep = run_sweep(exp, out, InlineBackend(), progress=False)
    assert rep.outcome.computed == 20 and not rep.outcome.errors
    t = pd.read_parquet(out / "trials.parquet")
    assert len(t) == 20 and t["eval_id"].is_unique
    assert set(t["mode"]) == {"sweep"} and set(t["run"]) == {"small"}
    assert set(t["label"]) == {"rfc-default", "p0001", "p0002", "p0003", "p0004"}
    for col in ("trial", "workload", "seed", "param.policy.version", "param.policy.scan_size_mb",
                "hit_rate", "cost_cpu_s", "objective", "wall_s", "worker", "finished_at"):
        assert col in t.columns
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert set(ts["eval_id"]) == set(t["eval_id"])
    assert {"t_s", "hit_rate", "queue_len", "mm", "scan_period_ms", "scan_size_mb"} <= set(ts)
    manifest = (out / "manifest.json").read_text()
    assert '"resolved"' in manifest and '"versions"' in manifest and '"command"' in manifest

    # A crash lost some rows: the rerun computes exactly those, nothing twice.
    keep = t[~t["eval_id"].str.contains("/p0002/")]
    keep.to_parquet(out / "trials.parquet", index=False)
    rep2 = run_sweep(exp, out, InlineBackend(), progress=False)
    assert rep2.outcome.computed == 4 and rep2.outcome.reused == 16
    t2 = pd.read_parquet(out / "trials.parquet")
    assert len(t2) == 20 and t2["eval_id"].is_unique
    a, b = metrics_frame(out / "trials.parquet"), t.drop(columns=list(VOLATILE))
    b = b.sort_values("eval_id").reset_index(drop=True)[a.columns]
    pd.testing.assert_frame_equal(a, b)


def test_same_sweep_same_metrics_on_1_and_2_cpus(tmp_path, write_yaml):
    """tiersweep sweep --cpus 1 and --cpus 2 give identical metrics."""
    cfg = write_yaml(SMALL)
    frames = {}
    for cpus in (1, 2):
        out = tmp_path / f"out{cpus}"
        r = subprocess.run([sys.executable, "-m", "harness", "sweep", str(cfg), "--out", str(out),
                            "--cpus", str(cpus), "--no-progress"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "20 evaluations (20 run now" in r.stdout
        frames[cpus] = metrics_frame(out / "trials.parquet")
    assert len(frames[1]) == 20
    pd.testing.assert_frame_equal(frames[1], frames[2])
    # ... and the same as the in-process backend.
    exp = load_experiment(cfg)
    run_sweep(exp, tmp_path / "inline", InlineBackend(), progress=False)
    pd.testing.assert_frame_equal(frames[1], metrics_frame(tmp_path / "inline/trials.parquet"))


def test_killed_worker_evaluation_is_retried(tmp_path, ray_backend, write_yaml):
    """SIGKILL a Ray worker in the middle of a simulation; Ray retries it."""
    exp = load_experiment(write_yaml(long_single_point(SMALL)))
    rep, killed = sweep_with_one_kill(exp, tmp_path / "out", ray_backend, "run_chunk")
    assert_retried_like_inline(exp, tmp_path, rep, killed, metrics_frame)


def test_shared_counts_array_is_put_once(tmp_path, ray_backend, write_yaml):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5, size=(8, 4096)).astype(np.int64)
    np.save(tmp_path / "counts.npy", counts)
    text = f"""
    name: counts
    base:
      duration_s: 8
      sample_ms: 2000
      platform: {{nodes: [{{id: 0, tier: fast, capacity_gb: 0.004}},
                         {{id: 1, tier: slow, capacity_gb: 0.1}}]}}
      workload: {{kind: counts, path: {tmp_path / 'counts.npy'}, window_ms: 1000,
                  placement: slow}}
      policy: {{kind: kmmscand, version: v1}}
    seeds: [1, 2, 3]
    sweep: {{grid: {{policy.version: [v1, v3]}}}}
    """
    exp = load_experiment(write_yaml(text, "counts.yaml"))
    evals = sweep_evaluations(exp)
    seen_puts = []
    orig_put = ray_backend.put

    def counting_put(obj):
        seen_puts.append(type(obj).__name__)
        return orig_put(obj)

    ray_backend.put = counting_put
    try:
        out = run_evaluations(evals, tmp_path / "ray", ray_backend, progress=False)
    finally:
        del ray_backend.put
    assert seen_puts == ["ndarray"]  # one put for 9 evaluations
    assert not out.errors and len(out.table) == 9
    ref = run_evaluations(evals, tmp_path / "inline", InlineBackend(), progress=False)
    pd.testing.assert_frame_equal(metrics_frame(tmp_path / "ray/trials.parquet"),
                                  metrics_frame(tmp_path / "inline/trials.parquet"))
    assert not ref.errors


def test_scheduler_chunks_short_evaluations():
    """Short simulations go several to a task once their duration is known."""
    from harness.config import from_dict

    cfg = from_dict({"duration_s": 2, "sample_ms": 1000,
                     "platform": {"nodes": [{"id": 0, "tier": "fast", "capacity_gb": 0.004},
                                            {"id": 1, "tier": "slow", "capacity_gb": 0.1}]},
                     "workload": {"kind": "uniform", "size_gb": 0.016, "placement": "slow"}})
    evals = [Evaluation(eval_id=f"e{i}", cfg=cfg, seed=i) for i in range(60)]
    sched = Scheduler(InlineBackend(slots=2), target_task_s=0.5)
    sched.add(evals)
    done = []
    while not sched.idle():
        done += sched.step()
    assert len(done) == 60 and all(o["ok"] for _, o in done)
    assert sched.tasks_submitted < 30


def test_local_ray_binds_to_loopback(ray_backend):
    import ray

    assert ray_backend.describe()["gcs_address"].startswith("127.0.0.1:")
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert ray_backend.slots == 2


def test_errors_name_values_in_the_library_and_flags_on_the_command_line(tmp_path, capsys, write_yaml):
    from harness.cli import main
    from harness.errors import TiersweepError
    from harness.run.store import RunLock

    with pytest.raises(TiersweepError, match="^cpus: expected at least 1 CPU"):
        RayBackend(cpus=0)
    cfg = write_yaml(SMALL)
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "a"), "--cpus", "0"]) == 2
    assert "tiersweep: error: --cpus: expected at least 1 CPU" in capsys.readouterr().err
    out = tmp_path / "b"
    with RunLock(out):  # another driver holds the run directory
        with pytest.raises(TiersweepError, match="use another run directory$"), RunLock(out):
            pass
        assert main(["sweep", str(cfg), "--out", str(out), "--backend", "inline"]) == 2
    err = capsys.readouterr().err
    assert "in use by another tiersweep process" in err
    assert err.rstrip().endswith("use another run directory (--out DIR)")


def test_identical_points_are_evaluated_once(tmp_path, write_yaml):
    """A grid point equal to the RFC defaults (v1, scan_size 1024) runs once per
    workload and seed; both points get their rows, with the same results."""
    exp = load_experiment(write_yaml(tiny_suite("dup", """  grid: {policy.scan_size_mb: [1024, 512]}
""")))
    assert exp.default_values(["policy.scan_size_mb"]) == {"policy.scan_size_mb": 1024}
    out = tmp_path / "out"
    rep = run_sweep(exp, out, InlineBackend(), progress=False)
    # 2 workloads x 2 seeds x 3 points, of which the default and p0001 are one config
    assert (rep.outcome.computed, rep.outcome.identical) == (8, 4)
    assert "4 identical to another point's (run once)" in rep.outcome.counts_text()
    t = pd.read_parquet(out / "trials.parquet").set_index(["workload", "seed"])
    a, b = t[t["label"] == "rfc-default"], t[t["label"] == "p0001"]
    assert len(a) == len(b) == 4
    for m in ("objective", "hit_rate", "cost_cpu_s", "promotions"):
        if m in t.columns:
            pd.testing.assert_series_equal(a[m].sort_index(), b[m].sort_index(), check_names=False)
    again = run_sweep(exp, out, InlineBackend(), progress=False)
    assert (again.outcome.computed, again.outcome.reused) == (0, 12)
