"""A two-node Ray cluster on one machine (Ray's own
``cluster_utils.Cluster``: a head and a second raylet, each with a custom
resource naming it), a sweep over real-program traces run on both nodes with
no task opening a file of the driver's, and a sweep that loses its second node
midway and completes on the head with nothing lost or run twice."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.experiment import load_experiment
from harness.run.audit import ENV
from harness.run.backends import RayBackend
from harness.run.store.layout import TRIALS_PART, part_files
from harness.search.sweep import run_sweep
from tests.conftest import REPO

pytestmark = pytest.mark.slow

TRACES = """
name: multinode
base: zipf.yaml
set:
  sample_ms: 2000
  platform: {fast_share_of_footprint: 0.25}
  workload: {kind: trace, format: columnar, window_ms: 500, placement: slow}
suite:
  xz-compress: {duration_s: 51, workload: {path: real/xz-compress.parquet}}
  python-dict: {duration_s: 49.5, workload: {path: real/python-dict.parquet}}
seeds: [1, 2]
sweep:
  grid: {policy.scan_period_ms: [600, 2000, 5000], policy.scan_size_mb: [1, 16, 256]}
"""

SYNTHETIC = """
name: node-loss
base: zipf.yaml
set:
  duration_s: 40
  sample_ms: 5000
  workload: {size_gb: 1, placement: slow}
  platform:
    nodes:
      - {id: 0, tier: fast, capacity_gb: 0.25}
      - {id: 1, tier: slow, capacity_gb: 2}
suite:
  zipf: {workload: {kind: zipf}}
  hotset: {workload: {kind: hotset, move_every_s: 5}}
seeds: [1, 2, 3, 4]
sweep:
  grid: {policy.scan_size_mb: [256, 1024, 4096], policy.version: [v1, v3]}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The experiments' directory: configs and traces the workers must not open."""
    d = tmp_path_factory.mktemp("driver-files")
    shutil.copytree(REPO / "configs", d, dirs_exist_ok=True)
    (d / "traces.yaml").write_text(TRACES)
    (d / "synthetic.yaml").write_text(SYNTHETIC)
    return d


@pytest.fixture(scope="module")
def cluster(data_dir, tmp_path_factory):
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    # Two raylets on this machine's address (Ray's multi-node mode advertises it; a
    # 127.0.0.1-only instance is single-node by design).
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"head_node": 1}, "include_dashboard": False})
    second = c.add_node(num_cpus=1, resources={"second_node": 1})
    ray.init(address=c.address, runtime_env={
        "worker_process_setup_hook": "harness.run.audit.forbid_opens",
        "env_vars": {ENV: str(data_dir)}})
    try:
        yield c, second
    finally:
        ray.shutdown()
        c.shutdown()


def _written(out) -> tuple[int, set]:
    """Evaluations the driver has written to its part files so far, and the
    nodes that ran them."""
    rows, nodes = 0, set()
    for p in part_files(out, TRIALS_PART):
        with contextlib.suppress(FileNotFoundError):  # merged meanwhile
            col = pq.read_table(p, columns=["node"]).column("node")
            rows += len(col)
            nodes.update(col.to_pylist())
    return rows, nodes


def node_ids():
    import ray

    return {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}


def test_a_trace_sweep_runs_on_both_nodes_and_opens_no_driver_file(cluster, data_dir,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("TIERSWEEP_CACHE", str(tmp_path / "cache"))
    exp = load_experiment(data_dir / "traces.yaml")
    assert {exp.run_config(w, 1).workloads[0].kind for w in exp.workloads} == {"trace"}
    nodes = node_ids()
    assert len(nodes) == 2
    rep = run_sweep(exp, tmp_path / "out", RayBackend(), progress=False)
    assert not rep.outcome.errors  # an open of a driver file would have failed its task
    t = pd.read_parquet(tmp_path / "out" / "trials.parquet")
    assert len(t) == 2 * 2 * 10 and t["eval_id"].is_unique
    assert set(t["node"]) == set(nodes)  # both machines did work
    assert t["objective"].notna().all()


def test_the_audit_hook_fails_a_task_that_opens_a_driver_file(cluster, data_dir):
    import ray

    @ray.remote(num_cpus=1)
    def peek(path):
        with open(path, "rb") as f:
            return f.read(1)

    with pytest.raises(ray.exceptions.RayTaskError, match="a task opened a file"):
        ray.get(peek.remote(str(data_dir / "zipf.yaml")))


def test_losing_the_second_node_midway_loses_nothing(cluster, data_dir, tmp_path):
    c, second = cluster
    exp = load_experiment(data_dir / "synthetic.yaml")
    out = tmp_path / "out"
    result = {}

    def sweep():
        result["rep"] = run_sweep(exp, out, RayBackend(), progress=False)

    th = threading.Thread(target=sweep)
    th.start()
    head = {n for n, res in node_ids().items() if "head_node" in res}
    # Lose the node once a quarter of the evaluations are in (the driver's
    # part files) and both nodes have delivered some, however fast the
    # simulations run and however long a fresh worker takes to compile.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rows, nodes = _written(out)
        if rows >= 14 and len(nodes) == 2:
            break
        time.sleep(0.1)
    assert th.is_alive(), "the sweep ended before the node could be lost"
    c.remove_node(second, allow_graceful=False)
    killed_at = pd.Timestamp.now(tz="UTC")
    th.join(timeout=600)
    assert not th.is_alive()
    rep = result["rep"]
    assert not rep.outcome.errors
    t = pd.read_parquet(out / "trials.parquet")
    assert len(t) == 2 * 4 * 7 and t["eval_id"].is_unique  # nothing lost, nothing twice
    assert t["objective"].notna().all()
    # both nodes worked before the loss; the head went on after it (the killed
    # node's tasks were retried there: Ray's max_retries)
    before, after = t[t["finished_at"] < killed_at], t[t["finished_at"] > killed_at]
    assert before["node"].nunique() == 2 and len(after) > 0
    assert head <= set(after["node"])
    assert (t["node"].isin(head)).sum() > len(t) // 2
