"""Conversion cache: sparse counts as .npz, keyed by the trace's content hash.

The key is the SHA-256 of the trace file's bytes plus the reader options
that change the result (format, page size, window length, instruction rate,
bad-line handling) and a reader version. Files live under ``$TIERSWEEP_CACHE``
(default ``~/.cache/tiersweep``) in ``traces/``, are written atomically (a
temporary file, then ``os.replace``) and are read with ``allow_pickle=False``.

Hashing a multi-GB trace takes a few seconds, so the content hash of a file
is remembered under (real path, size, mtime, inode); a changed file is
hashed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from harness import atomic
from harness.errors import InputError
from harness.traces.base import ReaderOptions, SparseProcess

# Bump when a reader's output for the same input changes.
READER_VERSION = 1


def cache_root() -> Path:
    env = os.environ.get("TIERSWEEP_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "tiersweep"
    return base / "traces"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes (remembered per path, size, mtime and inode)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    ident = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    memo = cache_root() / "hashes" / (hashlib.sha256(ident.encode()).hexdigest()[:40] + ".txt")
    try:
        text = memo.read_text().strip()
        if len(text) == 64:
            return text
    except OSError:
        pass
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    digest = h.hexdigest()
    with contextlib.suppress(OSError):
        atomic.write_text(memo, digest)
    return digest


def cache_key(content_sha: str, fmt: str, opts: ReaderOptions) -> str:
    blob = json.dumps(dict(v=READER_VERSION, sha=content_sha, format=fmt, **opts.key()),
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def entry_path(key: str) -> Path:
    return cache_root() / f"{key}.npz"


def save(key: str, procs: list[SparseProcess], n_windows: int, stats: dict) -> Path:
    arrays: dict[str, np.ndarray] = {
        "pids": np.array([sp.pid for sp in procs], dtype=np.int64),
        "n_windows": np.array(n_windows, dtype=np.int64),
        "stats": np.array(json.dumps(stats)),
    }
    for i, sp in enumerate(procs):
        arrays[f"w{i}"] = sp.window.astype(np.int64)
        arrays[f"p{i}"] = sp.page.astype(np.uint64)
        arrays[f"c{i}"] = sp.count.astype(np.int64)
    path = entry_path(key)
    atomic.write_with(path, lambda f: np.savez(f, **arrays))
    return path


def load(key: str) -> tuple[list[SparseProcess], int, dict] | None:
    """The cached conversion, or None (missing or unreadable: convert again)."""
    path = entry_path(key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            pids = [int(x) for x in z["pids"]]
            procs = [SparseProcess(pid, z[f"w{i}"], z[f"p{i}"], z[f"c{i}"])
                     for i, pid in enumerate(pids)]
            return procs, int(z["n_windows"]), json.loads(str(z["stats"]))
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def locked(key: str):
    """Hold an exclusive lock for one key, so parallel runs convert a trace once."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        f = open(root / f"{key}.lock", "w")  # noqa: SIM115 - closed below
    except OSError:
        yield
        return
    try:
        try:
            import fcntl

            fcntl.flock(f, fcntl.LOCK_EX)
        except (ImportError, OSError):
            pass
        yield
    finally:
        f.close()
