"""Command-line input errors fail fast: one line, exit 2, and
nothing created; an unreachable --address answered within its timeout."""

from __future__ import annotations

import socket

import pytest

from harness.cli import main
from tests.conftest import CONFIGS

SUITE = str(CONFIGS / "suite.yaml")


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.parametrize("argv,needle", [
    (["tune", SUITE, "--trials", "0"], "--trials: expected at least 1, not 0"),
    (["tune", SUITE, "--timeout", "-5"], "--timeout: expected seconds > 0, not -5.0"),
    (["sweep", SUITE, "--cpus", "0"], "--cpus: expected at least 1 CPU, not 0"),
    (["sweep", SUITE, "--connect-timeout", "0"], "--connect-timeout: expected seconds > 0"),
])
def test_bad_counts_and_times_exit_2_before_anything_is_created(tmp_path, capsys, argv, needle):
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_an_unreachable_address_fails_within_its_timeout(tmp_path, capsys):
    out = tmp_path / "run"
    addr = f"127.0.0.1:{unused_port()}"
    assert main(["sweep", SUITE, "--address", addr, "--connect-timeout", "5",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--address: cannot reach a Ray cluster at {addr}" in err[0], err
    assert not out.exists()


def test_a_malformed_address_is_named(tmp_path, capsys):
    assert main(["tune", SUITE, "--address", "headnode", "--out", str(tmp_path / "r")]) == 2
    assert "--address: 'headnode': expected HOST:PORT" in capsys.readouterr().err


def test_no_command_lists_the_commands(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    for name in ("simulate", "sweep", "tune", "compare", "schema"):
        assert f"    {name}" in err


@pytest.mark.parametrize("argv,needle", [
    (["tune", str(CONFIGS / "zipf.yaml")], "zipf.yaml: this is a run config; this command "
                                           "takes an experiment file"),
    (["simulate", SUITE], "suite.yaml: this is an experiment file (base, suite, sweep, "
                          "study); this command takes a run config"),
    (["tune", SUITE, "--set", "policy.scan_sise_mb=1"],
     "--set policy.scan_sise_mb=1: policy.scan_sise_mb: unknown field; did you mean "
     "scan_size_mb?"),
    (["simulate", str(CONFIGS / "zipf.yaml"), "--set", "workload.zipf_s=-1"],
     "--set workload.zipf_s=-1: workloads[0].zipf_s:"),
])
def test_errors_point_at_the_right_place(tmp_path, capsys, argv, needle):
    extra = ["--out", str(tmp_path / "run")] if argv[0] == "tune" else []
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_dry_run_plans_writes_nothing_and_counts_what_is_done(tmp_path, capsys, write_yaml):
    from tests.helpers.experiments import tiny_suite

    cfg = write_yaml(tiny_suite("plan", "  grid: {policy.version: [v1, v3]}\n"))
    out = tmp_path / "run"
    assert main(["sweep", str(cfg), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    # 3 points (the base config, v1, v3) x 2 workloads x 2 seeds
    assert "sweep plan: 3 points x 2 workloads (zipf, hotset) x 2 seeds = 12 evaluations" in text
    assert "already in the run directory: 0; to run: 12" in text
    assert not out.exists()
    assert main(["sweep", str(cfg), "--out", str(out), "--backend", "inline",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(cfg), "--out", str(out), "--dry-run"]) == 0
    assert "already in the run directory: 12; to run: 0" in capsys.readouterr().out


def test_tune_dry_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["tune", SUITE, "--out", str(out), "--dry-run", "--trials", "5"]) == 0
    text = capsys.readouterr().out
    assert "tune plan: 5 trials x 4 workloads" in text and "= 60 evaluations" in text
    # The suite's references (5 policies x 4 workloads x 5 seeds) hold the RFC
    # side of the comparison: the comparison adds the tuned knobs only.
    assert "100 reference evaluations first, then 60" in text
    assert "then 20 for the tuned-versus-RFC comparison" in text
    assert not out.exists()


def test_an_interrupted_run_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import harness.search.sweep as sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    out = tmp_path / "o"
    assert main(["sweep", str(CONFIGS / "suite.yaml"), "--out", str(out), "--backend",
                 "inline", "--no-progress"]) == 130
    assert capsys.readouterr().err.strip() == (
        "tiersweep: interrupted; what finished is kept: rerun the same command to resume")
    assert not (out / ".lock").exists()


def test_another_experiment_in_the_directory_is_named_before_ray(tmp_path, capsys, monkeypatch,
                                                                 write_yaml):
    from tests.helpers.experiments import tiny_suite

    exp = write_yaml(tiny_suite("same", "  grid: {policy.scan_size_mb: [512]}\n"))
    out = tmp_path / "o"
    assert main(["sweep", str(exp), "--out", str(out), "--backend", "inline",
                 "--no-progress"]) == 0
    import harness.run.backends as backends

    def no_ray(*a, **k):
        raise AssertionError("Ray started")

    monkeypatch.setattr(backends, "make_backend", no_ray)
    capsys.readouterr()
    assert main(["sweep", str(exp), "--out", str(out), "--set", "workload.zipf_s=1.2"]) == 2
    err = capsys.readouterr().err
    assert "holds a different sweep of same (resolved.zipf.workloads[0].zipf_s: 1.2 here, " \
           "1.0 in the directory)" in err, err


def test_bench_study_measures_a_journal_with_one_and_two_drivers():
    from harness.tools import study_bench

    lines: list[str] = []
    study_bench.run([], trials=5, echo=lines.append)
    text = "\n".join(lines)
    assert "journal file   1 driver :" in text and "journal file   2 drivers:" in text
    assert "0.2 s simulations:" in text and "2 s simulations:" in text
