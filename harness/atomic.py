"""Atomic file writing: the one owner (results, reports, defaults, the trace cache).

A file is written under a temporary name in its own directory and then moved
over the target with ``os.replace`` (atomic within one file system), so a
reader sees the old file or the new one, never a torn one; a failed write
removes its temporary file. The temporary file is opened with a plain
``open`` so the umask sets the final file's mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_with(path: str | Path, write: Callable[[BinaryIO], object], *,
               sync: bool = False) -> Path:
    """Call `write(f)` on a temporary binary file, then move it over `path`.

    `sync` also fsyncs before the move (survives an OS crash, not only the
    death of this process). Creates the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid + random: unique across processes and threads writing the same target
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def remove_stale_temp_files(directory: str | Path) -> list[Path]:
    """Remove temporary files write_with left in `directory` when its process
    died (call only while no other writer can be active there, e.g. under the
    run directory's lock). Returns what was removed."""
    gone = []
    for p in Path(directory).glob(".*.tmp"):
        if p.is_file() and not p.is_symlink():
            with contextlib.suppress(OSError):
                p.unlink()
                gone.append(p)
    return gone


def write_bytes(path: str | Path, data: bytes, *, sync: bool = False) -> Path:
    return write_with(path, lambda f: f.write(data), sync=sync)


def write_text(path: str | Path, text: str, *, sync: bool = False) -> Path:
    return write_bytes(path, text.encode(), sync=sync)
