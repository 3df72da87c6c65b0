"""One study, two drivers at once, on a real PostgreSQL
server (initdb and pg_ctl in a temporary directory, a unix socket, no TCP), in
one results directory: exactly the requested number of COMPLETE trials (checked
through Optuna), none run twice, and a consistent trials.parquet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.search.test_tune import write

pytestmark = pytest.mark.slow


def _as_postgres(*cmd: str) -> list[str]:
    # PostgreSQL refuses to run as root: the machine's postgres user runs it.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="module")
def postgres_url():
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    pytest.importorskip("psycopg")
    # Outside pytest's private tmp tree: the postgres user must reach it.
    d = Path(tempfile.mkdtemp(prefix="tiersweep-pg-"))
    os.chmod(d, 0o755)
    data, sock = d / "data", d
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
    subprocess.run(_as_postgres("initdb", "-D", str(data), "-A", "trust", "-U", "postgres"),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(d / "log"), "-o",
                                f"-k {sock} -c listen_addresses=''", "start"),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/postgres?host={sock}"
    finally:
        subprocess.run(_as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop"),
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def test_two_drivers_share_one_study_and_one_directory(tmp_path, postgres_url):
    p = write(tmp_path, 3)
    p.write_text(p.read_text().replace("  trials: 8\n", "  trials: 10\n"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness", "tune", str(p), "--out", str(out), "--storage",
           postgres_url, "--backend", "inline", "--no-progress", "--no-compare"]
    drivers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outs = [d.communicate(timeout=600) for d in drivers]
    for d, (_out, se) in zip(drivers, outs, strict=True):
        assert d.returncode == 0, se[-2000:]
    study = optuna.load_study(study_name="tiny", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 10  # exactly the budget, over two drivers
    others = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.state == TrialState.FAIL and t.user_attrs.get("over_budget") for t in others)
    assert len({t.user_attrs["driver"] for t in complete}) == 2  # both drivers worked
    t = pd.read_parquet(out / "trials.parquet")
    tune = t[t["mode"] == "tune"]
    assert t["eval_id"].is_unique
    # every complete trial's evaluations exactly once: 2 workloads x 2 seeds
    assert sorted(tune.groupby("trial").size().items()) == [(x.number, 4) for x in complete]
    assert not (out / ".lock").exists() and not list(out.rglob("*.tmp"))
