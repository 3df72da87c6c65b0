"""A run directory: one driver at a time, nothing followed through a symlink,
and a taken directory refused before Ray starts."""

from __future__ import annotations

import os

import pytest

from harness.errors import TiersweepError
from harness.run.store import RunLock
from harness.run.store.layout import LOCK, PARTS, TRIALS
from tests.conftest import CONFIGS


def test_a_second_lock_fails_and_reuse_nests(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(TiersweepError, match=f"in use by another tiersweep process "
                                                 f"\\(pid {os.getpid()}\\)"), RunLock(tmp_path):
            pass
        with RunLock.reuse(tmp_path):  # the run inside the command that took it
            pass
    with RunLock.reuse(tmp_path):  # not held: taken
        assert (tmp_path / LOCK).read_text() == str(os.getpid())
    assert not (tmp_path / LOCK).exists()  # a finished run directory keeps no .lock


def test_a_lock_file_removed_by_its_releasing_holder_is_not_trusted(tmp_path):
    """A process that opened .lock just before the holder removed it on release
    must not hold a lock on the unlinked file: it takes the path's new file."""
    import fcntl

    stale = os.open(tmp_path / LOCK, os.O_RDWR | os.O_CREAT)
    os.unlink(tmp_path / LOCK)
    with RunLock(tmp_path) as lock:  # the new file, not the stale inode
        assert os.fstat(lock._fd).st_ino == os.stat(tmp_path / LOCK).st_ino
        fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds the stale one
    os.close(stale)


def test_a_finished_store_leaves_no_empty_parts_directory(tmp_path):
    from harness.run.store import ResultStore

    with RunLock(tmp_path):
        store = ResultStore(tmp_path)
        (tmp_path / PARTS).mkdir(exist_ok=True)
        store.consolidate()
    assert not (tmp_path / PARTS).exists()  # the last lock holder removes it


@pytest.mark.parametrize("name", [LOCK, PARTS, TRIALS])
def test_a_planted_symlink_is_refused_and_its_target_untouched(tmp_path, name):
    target = tmp_path / "outside"
    target.mkdir() if name == PARTS else target.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / name).symlink_to(target)
    with pytest.raises(TiersweepError, match=f"{name}: is a symbolic link"), RunLock(run):
        pass
    if name == PARTS:
        assert list(target.iterdir()) == []
    else:
        assert target.read_text() == "precious"


def test_out_naming_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(TiersweepError, match="is not a directory"), RunLock(f):
        pass


def test_a_taken_directory_fails_before_ray_starts(tmp_path, capsys, monkeypatch):
    from harness.cli import main
    from harness.run import backends

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started for a taken run directory")

    monkeypatch.setattr(backends, "make_backend", no_ray)
    out = tmp_path / "run"
    with RunLock(out):
        assert main(["sweep", str(CONFIGS / "suite.yaml"), "--out", str(out)]) == 2
    assert "in use by another tiersweep process" in capsys.readouterr().err


def test_disk_full_is_one_line_leaves_no_temp_file_and_the_rerun_completes(
        tmp_path, capsys, monkeypatch, write_yaml):
    """ENOSPC injected into the part files' writes (no small file system can be
    mounted here): one line naming the file, no temporary file left, the
    invocation marked interrupted, and the same command then completes."""
    import errno
    import json

    import pandas as pd

    from harness import atomic
    from harness.cli import main
    from harness.run.store.layout import MANIFEST
    from tests.helpers.experiments import tiny_suite

    cfg = write_yaml(tiny_suite("full", "  grid: {policy.version: [v1, v3]}\n"))
    out = tmp_path / "run"
    real = atomic.write_with

    def full_disk(path, write, **kw):
        if PARTS in str(path):
            def partial(f):
                f.write(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real(path, partial, **kw)
        return real(path, write, **kw)

    monkeypatch.setattr(atomic, "write_with", full_disk)
    assert main(["sweep", str(cfg), "--out", str(out), "--backend", "inline"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("tiersweep:")]
    assert "Traceback" not in err
    assert len(lines) == 1 and "No space left on device" in lines[0] and PARTS in lines[0], err
    assert not list(out.rglob("*.tmp"))
    inv = json.loads((out / MANIFEST).read_text())["invocations"]
    assert inv[-1]["status"] == "interrupted"
    # A writer killed mid-write left a temporary file: the next start removes it.
    (out / PARTS).mkdir(exist_ok=True)  # the finished run removed it, empty
    (out / PARTS / ".trials-x.parquet.999.abcd.tmp").write_bytes(b"partial")
    monkeypatch.setattr(atomic, "write_with", real)
    assert main(["sweep", str(cfg), "--out", str(out), "--backend", "inline"]) == 0
    assert not list(out.rglob("*.tmp"))
    assert len(pd.read_parquet(out / TRIALS)) == 2 * 2 * 3  # 2 workloads x 2 seeds x 3 points
    inv = json.loads((out / MANIFEST).read_text())["invocations"]
    assert [i["status"] for i in inv] == ["interrupted", "done"]


def test_an_invocation_left_running_is_marked_interrupted_at_the_next_start(tmp_path):
    """A driver SIGKILLed leaves its invocation "running"; the next start (under
    the lock, so that driver is dead) marks it interrupted."""
    import json

    from harness.run.store import start_manifest
    from harness.run.store.layout import MANIFEST

    out = tmp_path / "run"
    with RunLock(out):
        start_manifest(out, mode="sweep", fingerprint="f", experiment={"name": "x"},
                       command=["a"])
    with RunLock(out):
        start_manifest(out, mode="sweep", fingerprint="f", experiment={"name": "x"},
                       command=["b"])
    inv = json.loads((out / MANIFEST).read_text())["invocations"]
    assert [i["status"] for i in inv] == ["interrupted", "running"]
