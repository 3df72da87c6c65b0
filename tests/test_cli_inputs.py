"""Command-line input errors (issue 14, fail fast): one line, exit 2, and
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
