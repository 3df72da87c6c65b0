"""Record a lackey trace of a command: ``valgrind --tool=lackey --trace-mem=yes``.

valgrind writes the trace to a pipe (``--log-fd``) that is compressed on the
fly, so no uncompressed copy of the trace touches the disk. The command's
own stdout and stderr pass through.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness.errors import InputError


def record(cmd: list[str], out: str | Path, valgrind: str | None = None) -> dict:
    """Run ``cmd`` under lackey and write its trace to ``out`` (gzip if it ends in .gz)."""
    if not cmd:
        raise InputError("trace record: expected a command after --, e.g. "
                         "tiersweep trace record -- ./myprog arg")
    vg = valgrind or shutil.which("valgrind")
    if not vg:
        raise InputError("trace record: valgrind is not installed (not on PATH); install it, "
                         "e.g. apt-get install valgrind")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name + ".", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a trace is a plain file
    r, w = os.pipe()
    t0 = time.perf_counter()
    n_bytes = n_lines = 0
    try:
        try:
            proc = subprocess.Popen([vg, "--tool=lackey", "--trace-mem=yes", f"--log-fd={w}",
                                     *cmd], pass_fds=(w,))
        except OSError as exc:
            raise InputError(f"trace record: cannot run {vg}: {exc.strerror or exc}") from None
        finally:
            os.close(w)
        opener = (functools.partial(gzip.open, compresslevel=6) if out.name.endswith(".gz")
                  else open)
        with os.fdopen(r, "rb") as src, opener(tmp, "wb") as sink:
            r = -1
            while chunk := src.read(1 << 20):
                sink.write(chunk)
                n_bytes += len(chunk)
                n_lines += chunk.count(b"\n")
        rc = proc.wait()
        os.replace(tmp, out)
    finally:
        if r >= 0:
            with contextlib.suppress(OSError):
                os.close(r)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return dict(out=str(out), command=list(cmd), exit_code=rc, lines=n_lines,
                bytes_uncompressed=n_bytes, bytes_written=out.stat().st_size,
                seconds=round(time.perf_counter() - t0, 3))
