"""A real one-node Ray cluster (`ray start --head` on 127.0.0.1), a sweep
submitted with `ray job submit`, the results table checked, the cluster stopped.

Free ports everywhere (parallel runs do not collide) and a private --temp-dir (an
address-less `ray.init()` elsewhere on the machine does not attach to this cluster).
The cluster is stopped by ending the processes of the session `ray start` ran in,
by their ids: `ray stop` would end every Ray process of this user on the machine,
other people's sessions included.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness.experiment import load_experiment
from harness.run.backends import InlineBackend
from harness.search.sweep import run_sweep
from tests.conftest import REPO
from tests.helpers.experiments import tiny_suite
from tests.helpers.sessions import end_session, session_pids

VENV_BIN = Path(sys.executable).parent
ZIPF = REPO / "configs" / "zipf.yaml"

SWEEP = tiny_suite("cluster-small", """  grid: {policy.version: [v1, v3], policy.scan_size_mb: [256, 4096]}
""")

EXCLUDES = [".venv", ".git", "results", "__pycache__", ".pytest_cache", ".ruff_cache",
            ".hypothesis", "*.egg-info", "*.parquet", "*.journal"]


def free_ports(n: int) -> list[int]:
    """n distinct free ports: every socket stays bound until all are chosen
    (one at a time, the kernel may hand the same port out twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.mark.slow
def test_ray_start_job_submit_sweep(tmp_path):
    if not (VENV_BIN / "ray").exists():
        pytest.skip("the ray command is not installed beside this Python")
    names = ("port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port",
             "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port",
             "node-manager-port", "object-manager-port")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled",
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    env.pop("RAY_ADDRESS", None)
    temp_dir = tempfile.mkdtemp(prefix="tsray", dir="/tmp")  # short: Ray's socket paths
    start = [str(VENV_BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
             "--dashboard-host=127.0.0.1", "--include-dashboard=true", "--num-cpus=2",
             "--disable-usage-stats", f"--temp-dir={temp_dir}",
             *[f"--{k}={v}" for k, v in ports.items()]]
    # The job's `python` / `tiersweep` are those on the PATH of the shell that ran
    # `ray start`: the venv's, by the PATH above.
    head = subprocess.Popen(start, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = head.communicate(timeout=180)
        assert head.returncode == 0, log[-3000:]
        cfg = tmp_path / "cluster.yaml"
        cfg.write_text(textwrap.dedent(SWEEP))
        out = tmp_path / "out"
        submit = [str(VENV_BIN / "ray"), "job", "submit",
                  "--address", f"http://127.0.0.1:{ports['dashboard-port']}",
                  "--working-dir", str(REPO),
                  "--runtime-env-json", json.dumps({"excludes": EXCLUDES}),
                  "--", "tiersweep", "sweep", str(cfg), "--out", str(out), "--no-progress"]
        r = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        assert "succeeded" in r.stdout + r.stderr
        assert "20 evaluations (20 run now" in r.stdout

        t = pd.read_parquet(out / "trials.parquet")
        assert len(t) == 20 and t["eval_id"].is_unique
        assert set(t["mode"]) == {"sweep"} and set(t["run"]) == {"cluster-small"}
        assert t["objective"].notna().all() and t["hit_rate"].between(0, 1).all()
        manifest = json.loads((out / "manifest.json").read_text())
        backend = manifest["invocations"][-1]["backend"]
        assert backend["address"] == f"127.0.0.1:{ports['port']}"  # the cluster, via RAY_ADDRESS
        assert backend["cluster_cpus"] == 2

        # The cluster computed exactly what an in-process run computes.
        run_sweep(load_experiment(cfg), tmp_path / "inline", InlineBackend(), progress=False)
        volatile = ["wall_s", "eval_wall_s", "worker", "node", "finished_at"]
        a = t.drop(columns=volatile).sort_values("eval_id").reset_index(drop=True)
        b = pd.read_parquet(tmp_path / "inline" / "trials.parquet").drop(columns=volatile)
        b = b.sort_values("eval_id").reset_index(drop=True)[a.columns]
        pd.testing.assert_frame_equal(a, b)
    finally:
        end_session(head.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not session_pids(head.pid)


def test_free_ports_are_distinct():
    assert len(set(free_ports(16))) == 16
