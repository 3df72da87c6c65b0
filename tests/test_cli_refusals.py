"""What a new user meets first: a Ray start that fails on a busy machine, an
empty config, a path refused, a typo, a finished study's dry run, the dashboard
hint, the report's library warnings. Each is one line and its exit code
(2: the input or a path; 1: our failure; 3: local Ray did not start)."""

from __future__ import annotations

import fcntl
import os
import types
import warnings

import pytest

import harness.run.backends.ray as ray_mod
from harness.cli import main
from tests.conftest import CONFIGS

SUITE = str(CONFIGS / "suite.yaml")


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# ------------------------------------------------------------ local Ray's start


@pytest.fixture
def fake_ray(monkeypatch):
    """ray.init / ray.get replaced: counts the attempts, no pause between them."""
    import ray

    calls = {"init": 0, "shutdown": 0}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_mod, "START_BACKOFF_S", 0.0)
    monkeypatch.setattr(ray_mod, "loaded", lambda: False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)

    def shutdown():
        calls["shutdown"] += 1

    monkeypatch.setattr(ray, "shutdown", shutdown)
    return ray, calls


def test_a_ray_start_that_keeps_failing_is_retried_then_one_line_exit_3(
        tmp_path, capsys, fake_ray, monkeypatch):
    ray, calls = fake_ray

    def init(**kw):
        calls["init"] += 1
        raise Exception("The current node timed out during startup. This could happen "
                        "because some of the raylet failed to startup")

    monkeypatch.setattr(ray, "init", init)
    rc = main(["sweep", SUITE, "--out", str(tmp_path / "o"), "--cpus", "2", "--no-progress"])
    msg = one_line(capsys)
    assert rc == 3
    assert calls["init"] == ray_mod.START_ATTEMPTS == 3
    assert calls["shutdown"] == 3  # each half-started session ended before the next try
    assert msg.startswith("tiersweep: error: local Ray did not start (3 attempts; last: "
                          "Exception: The current node timed out during startup")
    assert ray_mod.ray_log_dir() in msg
    assert "--backend inline" in msg and "fewer --cpus" in msg
    assert not (tmp_path / "o").exists()  # nothing left behind


def test_a_start_that_succeeds_on_a_retry_runs_on(fake_ray, monkeypatch):
    ray, calls = fake_ray
    monkeypatch.setattr(ray, "get", lambda ref, timeout=None: 1)
    monkeypatch.setattr(ray, "remote", lambda **kw: lambda fn: types.SimpleNamespace(
        remote=lambda: "ref"))

    def init(**kw):
        calls["init"] += 1
        if calls["init"] < 2:
            raise Exception("node timed out during startup")

    monkeypatch.setattr(ray, "init", init)
    assert ray_mod.start_local(ray, address="local") == 2


def test_a_worker_that_dies_at_start_is_one_line_exit_3(tmp_path, capsys, fake_ray,
                                                        monkeypatch):
    from ray.exceptions import WorkerCrashedError

    ray, calls = fake_ray
    monkeypatch.setattr(ray, "init", lambda **kw: calls.__setitem__("init", calls["init"] + 1))
    monkeypatch.setattr(ray, "remote", lambda **kw: lambda fn: types.SimpleNamespace(
        remote=lambda: "ref"))

    def get(ref, timeout=None):
        raise WorkerCrashedError()

    monkeypatch.setattr(ray, "get", get)
    rc = main(["sweep", SUITE, "--out", str(tmp_path / "o"), "--no-progress"])
    msg = one_line(capsys)
    assert rc == 3 and calls["init"] == 3
    assert "local Ray started but its first worker died (3 attempts; last: " \
           "WorkerCrashedError" in msg and "--backend inline" in msg


def test_a_loaded_machine_gives_ray_longer_to_register(monkeypatch):
    for name in ("RAY_raylet_start_wait_time_s", "RAY_worker_register_timeout_seconds"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(ray_mod, "loaded", lambda: True)
    fake = types.SimpleNamespace(init=lambda **kw: None, get=lambda ref, timeout=None: 1,
                                 remote=lambda **kw: lambda fn: types.SimpleNamespace(
                                     remote=lambda: "ref"), shutdown=lambda: None)
    assert ray_mod.start_local(fake) == 1
    assert os.environ["RAY_raylet_start_wait_time_s"] == str(ray_mod.LOADED_WAIT_S)  # noqa: SIM112 - Ray reads this exact name
    assert os.environ["RAY_worker_register_timeout_seconds"] == str(ray_mod.LOADED_WAIT_S)  # noqa: SIM112


# ------------------------------------------------------------ inputs and paths


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n# and another\n"])
@pytest.mark.parametrize("command", ["simulate", "sweep", "tune"])
def test_an_empty_config_is_refused(tmp_path, capsys, command, text):
    p = tmp_path / "empty.yaml"
    p.write_text(text)
    assert main([command, str(p), "--out", str(tmp_path / "o")] if command != "simulate"
                else [command, str(p)]) == 2
    assert one_line(capsys) == (f"tiersweep: error: {p}: empty config (no settings, only "
                                "blank lines or comments); expected a YAML mapping of settings")
    assert not (tmp_path / "o").exists()


def test_out_naming_a_regular_file_exits_2(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("mine")
    assert main(["sweep", SUITE, "--out", str(f), "--backend", "inline"]) == 2
    assert "is not a directory" in one_line(capsys)
    assert f.read_text() == "mine"


def test_a_symlinked_lock_exits_2(tmp_path, capsys):
    d = tmp_path / "run"
    d.mkdir()
    (d / ".lock").symlink_to(tmp_path / "elsewhere")
    assert main(["sweep", SUITE, "--out", str(d), "--backend", "inline"]) == 2
    assert ".lock: is a symbolic link" in one_line(capsys)
    assert not (tmp_path / "elsewhere").exists()


def test_a_run_directory_in_use_exits_2(tmp_path, capsys):
    d = tmp_path / "run"
    d.mkdir()
    fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX)  # another driver's lock
    try:
        assert main(["sweep", SUITE, "--out", str(d), "--backend", "inline"]) == 2
        assert "in use by another tiersweep process (pid 4242)" in one_line(capsys)
    finally:
        os.close(fd)


def test_a_user_path_the_os_refuses_exits_2_a_full_disk_1(tmp_path, capsys, monkeypatch):
    import errno

    import harness.commands.simulate as sim

    for code, rc in ((errno.EACCES, 2), (errno.ENOSPC, 1)):
        def refuse(args, code=code):
            raise OSError(code, os.strerror(code), str(tmp_path / "x"))

        monkeypatch.setattr(sim, "run", refuse)
        assert main(["simulate", str(CONFIGS / "zipf.yaml")]) == rc
        assert os.strerror(code) in one_line(capsys)


# ------------------------------------------------------------ small things


def test_a_misspelled_subcommand_suggests_the_closest(capsys):
    assert main(["tnue", SUITE]) == 2
    err = capsys.readouterr().err
    assert "tiersweep: error: unknown command 'tnue'; did you mean tune?" in err


def test_the_dashboard_hint_says_how_to_install_it(monkeypatch):
    import shutil

    from harness.commands.tune import dashboard_hint

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert dashboard_hint("r/study.journal") == (
        "dashboard: pip install 'tiersweep[dashboard]', then optuna-dashboard "
        "r/study.journal (not installed here)")
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    assert dashboard_hint("r/study.journal") == "dashboard: optuna-dashboard r/study.journal"


def test_dry_run_of_a_finished_study_says_so(tmp_path, capsys, write_yaml):
    from tests.helpers.experiments import tiny_suite

    cfg = write_yaml(tiny_suite("done", "  grid: {policy.version: [v1]}\n") + """
study:
  space: {policy.scan_size_mb: {type: int, low: 256, high: 1024}}
  trials: 2
""")
    out = tmp_path / "run"
    args = ["tune", str(cfg), "--out", str(out), "--no-compare"]
    assert main([*args, "--backend", "inline", "--no-progress"]) == 0
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"tune plan: the study in {out} is finished (2 trials); nothing to run" in text
    assert "already in the run directory" not in text
    assert main([*args, "--dry-run", "--trials", "3"]) == 0
    assert "already in the run directory: 8; to run: 4" in capsys.readouterr().out


def test_the_estimate_counts_base_knobs_once_and_the_space_for_the_rest():
    from harness.search.plan import START_S, Plan

    p = Plan("tune", 10, ["a", "b"], 2, evaluations=40, reused=0, compare=8,
             sim_s={"a": 1.0, "b": 3.0}, slots=2, space_s={"a": 0.5, "b": 0.5},
             base_evals=4 + 4)
    # 8 evaluations at the base knobs (2 s each), 40 at the space's (0.5 s), on 2 CPUs
    assert p.estimate_s == pytest.approx(START_S + (8 * 2.0 + 40 * 0.5) / 2)


def test_the_eta_starts_counting_at_the_first_finished_unit(monkeypatch, capsys):
    import harness.run.progress as pr

    now = [0.0]
    monkeypatch.setattr(pr.time, "monotonic", lambda: now[0])
    bar = pr._LogProgress(total=11, initial=0, desc="tune", unit="trial", every_s=1e9)
    now[0] = 30.0  # Ray's start and the first trial
    bar.update()
    now[0] = 32.0  # then one trial every 2 s
    bar.update()
    assert "ETA 18 s" in bar._line()  # 9 left x 2 s, not 9 x 16 s


def test_the_eta_of_a_generation_told_at_once_is_not_zero(monkeypatch):
    import harness.run.progress as pr

    now = [0.0]
    monkeypatch.setattr(pr.time, "monotonic", lambda: now[0])
    bar = pr._LogProgress(total=24, initial=0, desc="tune", unit="trial", every_s=1e9)
    now[0] = 60.0  # a generation of 8 trials, told together
    for _ in range(8):
        bar.update()
    assert "ETA 120 s" in bar._line()  # 16 left at 8 per 60 s


def test_report_says_a_library_warning_in_one_line(tmp_path, capsys, monkeypatch):
    import harness.report.html as H
    from tests.helpers.synth_results import make_trials, write_run

    d = write_run(tmp_path / "r", trials=make_trials(grid=False), timeseries=False)
    real = H.build_figures

    def warn_then_build(*a, **k):
        warnings.warn("Some regimes for parameter `x` have less than 2 trials.\n  More.",
                      UserWarning, stacklevel=1)
        return real(*a, **k)

    monkeypatch.setattr(H, "build_figures", warn_then_build)
    assert main(["report", str(d)]) == 0
    cap = capsys.readouterr()
    assert "UserWarning" not in cap.err
    lines = [ln for ln in cap.out.splitlines() if "warning:" in ln]
    # The injected warning is one line; the real report may add others of its own.
    assert "  warning: Some regimes for parameter `x` have less than 2 trials. More." in lines
    assert "Warning: Some regimes" in (d / "report.html").read_text()
