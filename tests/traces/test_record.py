"""`tiersweep trace record` writes the trace whole or not at all, with a stand-in
for valgrind (a script that writes lackey lines to the --log-fd it is given)."""

from __future__ import annotations

import gzip
import stat
import sys

import pytest

from harness.errors import InputError
from harness.traces import record as rec

LINES = "I  0401000,3\n L 1ffefff000,8\n S 1ffefff010,4\n"


def fake_valgrind(tmp_path, body: str):
    """A Python script standing in for valgrind; `fd` is its --log-fd."""
    p = tmp_path / "valgrind"
    p.write_text(f"#!{sys.executable}\nimport os, sys\n"
                 "fd = int(sys.argv[3].removeprefix('--log-fd='))\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


@pytest.mark.parametrize("name", ["t.lackey.gz", "t.lackey"])
def test_the_log_fd_stream_is_the_trace(tmp_path, name):
    vg = fake_valgrind(tmp_path, f"os.write(fd, {LINES.encode()!r})\nsys.exit(3)\n")
    out = tmp_path / "out" / name
    info = rec.record(["./prog", "arg"], out, valgrind=vg)
    data = out.read_bytes()
    text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
    assert text == LINES
    assert info["exit_code"] == 3 and info["lines"] == 3
    assert info["bytes_uncompressed"] == len(LINES) and info["bytes_written"] == len(data)
    assert [p.name for p in out.parent.iterdir()] == [name]  # no temporary file left


def test_a_valgrind_that_cannot_run_leaves_nothing(tmp_path):
    out = tmp_path / "t.lackey.gz"
    missing = tmp_path / "no-such-valgrind"
    with pytest.raises(InputError, match="cannot run"):
        rec.record(["true"], out, valgrind=str(missing))
    assert list(tmp_path.iterdir()) == []


def test_an_earlier_trace_survives_a_recording_that_fails(tmp_path):
    out = tmp_path / "t.lackey"
    out.write_text("old trace\n")
    vg = fake_valgrind(tmp_path, "os.write(fd, b'I  0401000,3\\n')\nraise SystemExit(1)\n")
    with pytest.raises(InputError):
        rec.record(["true"], out, valgrind=str(tmp_path / "missing"))
    assert out.read_text() == "old trace\n"
    rec.record(["true"], out, valgrind=vg)  # a recording that ends replaces it whole
    assert out.read_text() == "I  0401000,3\n"
