"""bench-study --suite: one timed evaluation per workload, and the trial it adds up to."""

import subprocess
import sys

from tests.conftest import CONFIGS
from tests.helpers.experiments import tiny_suite


def test_suite_cost_times_every_workload_once(write_yaml):
    cfg = write_yaml(tiny_suite("cost", "  grid: {policy.version: [v1]}"))
    r = subprocess.run([sys.executable, "-m", "harness", "bench-study", "--suite", str(cfg)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    timed = [ln.split()[0] for ln in lines if "CPU s  (" in ln]
    assert timed == ["zipf", "hotset"]
    assert "a trial (2 workloads x 2 seeds)" in lines[-1]
    assert "evaluations per CPU-hour" in lines[-1]


def test_suite_cost_refuses_a_run_config():
    r = subprocess.run([sys.executable, "-m", "harness", "bench-study", "--suite",
                        str(CONFIGS / "zipf.yaml")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "experiment file" in r.stderr
