"""The Ray actor backend: same results as in-process, a killed actor's chunk run again."""

import os
import signal
import threading
import time

import pandas as pd
import pytest

from harness.experiment import load_experiment
from harness.run.backends import InlineBackend, RayActorBackend, make_backend
from harness.search.sweep import run_sweep
from tests.search.test_sweep import SMALL, _children_running, metrics_frame


@pytest.fixture(scope="module")
def actors(ray_backend):
    """Two actors on the module's Ray session; closing them leaves the session up."""
    b = RayActorBackend(cpus=2)
    yield b
    b.close()


def test_actor_sweep_equals_inline(tmp_path, actors, write_yaml):
    exp = load_experiment(write_yaml(SMALL))
    rep = run_sweep(exp, tmp_path / "actors", actors, progress=False)
    assert not rep.outcome.errors, rep.outcome.errors
    assert not run_sweep(exp, tmp_path / "inline", InlineBackend(), progress=False).outcome.errors
    got = metrics_frame(tmp_path / "actors/trials.parquet")
    assert len(got) == 20
    pd.testing.assert_frame_equal(got, metrics_frame(tmp_path / "inline/trials.parquet"))
    # Both actors took work: the chunks were spread, not queued on one.
    workers = pd.read_parquet(tmp_path / "actors/trials.parquet")["worker"]
    assert workers.nunique() == 2


def test_killed_actor_is_restarted_and_its_chunk_rerun(tmp_path, actors, write_yaml):
    text = SMALL.replace("duration_s: 6", "duration_s: 60").replace("size_gb: 0.25", "size_gb: 1") \
        .replace("capacity_gb: 0.0625", "capacity_gb: 0.25").replace("capacity_gb: 0.5", "capacity_gb: 2") \
        .replace("seeds: [1, 2]", "seeds: [1]")
    text = text.split("sweep:")[0] + "sweep: {grid: {policy.version: [v1]}, include_default: false}\n"
    exp = load_experiment(write_yaml(text))
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = _children_running("_Executor.call")
            if pids:
                time.sleep(0.3)
                if pids[0] in _children_running("_Executor.call"):
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
            time.sleep(0.02)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    rep = run_sweep(exp, tmp_path / "out", actors, progress=False)
    th.join(timeout=5)
    assert killed, "no busy actor was found to kill"
    assert not rep.outcome.errors, rep.outcome.errors
    t = pd.read_parquet(tmp_path / "out/trials.parquet")
    assert len(t) == 2 and t["eval_id"].is_unique
    assert not t["worker"].str.endswith(f"/{killed[0]}").any()
    assert not run_sweep(exp, tmp_path / "ref", InlineBackend(), progress=False).outcome.errors
    pd.testing.assert_frame_equal(metrics_frame(tmp_path / "out/trials.parquet"),
                                  metrics_frame(tmp_path / "ref/trials.parquet"))


def test_unknown_backend_names_the_choices():
    with pytest.raises(Exception, match="ray-actors"):
        make_backend("threads")
