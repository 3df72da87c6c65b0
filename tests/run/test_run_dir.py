"""A run directory: one driver at a time, nothing followed through a symlink
(issue 13), and a taken directory refused before Ray starts."""

from __future__ import annotations

import os

import pytest

from harness.errors import TiersweepError
from harness.run.store import RunLock
from harness.run.store.layout import LOCK, PARTS, TRIALS


def test_a_second_lock_fails_and_reuse_nests(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(TiersweepError, match=f"in use by another tiersweep process "
                                                 f"\\(pid {os.getpid()}\\)"), RunLock(tmp_path):
            pass
        with RunLock.reuse(tmp_path):  # the run inside the command that took it
            pass
    with RunLock.reuse(tmp_path):  # not held: taken
        assert (tmp_path / LOCK).read_text() == str(os.getpid())


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
        assert main(["sweep", "configs/suite.yaml", "--out", str(out)]) == 1
    assert "in use by another tiersweep process" in capsys.readouterr().err
