"""Record a lackey trace of a command: ``valgrind --tool=lackey --trace-mem=yes``.

valgrind writes the trace to a pipe (``--log-fd``) that is compressed on the
fly, so no uncompressed copy of the trace touches the disk. The command's
own stdout and stderr pass through.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path

from harness import atomic
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
    t0 = time.perf_counter()
    counts = {"bytes": 0, "lines": 0, "rc": None}

    def write(sink) -> None:
        """Run valgrind with its log on a pipe and stream the pipe into `sink`
        (gzip-compressed for a .gz name)."""
        r, w = os.pipe()
        try:
            try:
                proc = subprocess.Popen([vg, "--tool=lackey", "--trace-mem=yes",
                                         f"--log-fd={w}", *cmd], pass_fds=(w,))
            except OSError as exc:
                raise InputError(f"trace record: cannot run {vg}: {exc.strerror or exc}") \
                    from None
            finally:
                os.close(w)
            z = (gzip.GzipFile(filename=out.name, mode="wb", compresslevel=6, fileobj=sink)
                 if out.name.endswith(".gz") else contextlib.nullcontext(sink))
            with os.fdopen(r, "rb") as src, z as dst:
                r = -1
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                    counts["bytes"] += len(chunk)
                    counts["lines"] += chunk.count(b"\n")
            counts["rc"] = proc.wait()
        finally:
            if r >= 0:
                with contextlib.suppress(OSError):
                    os.close(r)

    # Written under a temporary name and moved over `out` once valgrind is
    # done: a failed or interrupted recording leaves no partial trace.
    atomic.write_with(out, write)
    rc, n_bytes, n_lines = counts["rc"], counts["bytes"], counts["lines"]
    return dict(out=str(out), command=list(cmd), exit_code=rc, lines=n_lines,
                bytes_uncompressed=n_bytes, bytes_written=out.stat().st_size,
                seconds=round(time.perf_counter() - t0, 3))
