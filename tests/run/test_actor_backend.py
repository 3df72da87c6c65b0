"""The Ray actor backend: same results as in-process, a killed actor's chunk run again."""


import pandas as pd
import pytest

from harness.experiment import load_experiment
from harness.run.backends import InlineBackend, RayActorBackend, make_backend
from harness.search.sweep import run_sweep
from tests.helpers.kill import assert_retried_like_inline, long_single_point, sweep_with_one_kill
from tests.search.test_sweep import SMALL, metrics_frame


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
    exp = load_experiment(write_yaml(long_single_point(SMALL)))
    rep, killed = sweep_with_one_kill(exp, tmp_path / "out", actors, "_Executor.call")
    assert_retried_like_inline(exp, tmp_path, rep, killed, metrics_frame)


def test_unknown_backend_names_the_choices():
    with pytest.raises(Exception, match="ray-actors"):
        make_backend("threads")
