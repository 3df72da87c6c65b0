"""Memory-access traces -> the model's counts workload.

``load_trace_counts(w, page_bytes)`` reads the trace of a ``kind: trace``
workload (valgrind lackey, columnar parquet/CSV, or DAMON ``damo record``
JSON), converts it to access counts per page per window per process, and
caches the conversion by the file's content hash. Nothing here imports
pandas at module level (only the columnar reader uses it).
"""

from __future__ import annotations

import sys
import time
import zlib
from pathlib import Path

from harness.errors import ConfigError, InputError
from harness.traces import cache
from harness.traces.base import (
    FORMATS,
    Accumulator,
    ReaderOptions,
    SparseProcess,
    TraceCounts,
    densify,
)

__all__ = ["FORMATS", "ReaderOptions", "TraceCounts", "convert", "detect_format", "load_trace",
           "load_trace_counts"]


def _head(path: str, n: int = 1 << 16) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read(n)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, n)
        except zlib.error:
            return b""
    if len(raw) >= 2 and raw[0] == 0x78 and (raw[0] * 256 + raw[1]) % 31 == 0:
        try:
            return zlib.decompressobj().decompress(raw, n)
        except zlib.error:
            return raw
    return raw


def detect_format(path: str) -> str:
    """lackey, columnar or damon, from the file name or its first bytes."""
    name = Path(path).name.lower()
    for suffix in (".gz", ".zlib", ".z"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".parquet", ".pq", ".csv")):
        return "columnar"
    if name.endswith(".json") or name == "damon.data":
        return "damon"
    if name.endswith((".lackey", ".lk")):
        return "lackey"
    head = _head(path)
    if head[:4] == b"PAR1":
        return "columnar"
    text = head.lstrip()
    if text[:1] in (b"[", b"{"):
        return "damon"
    for line in head.split(b"\n")[:50]:
        if not line.strip() or line.startswith((b"==", b"--")):
            continue
        if line[:3] in (b"I  ", b" L ", b" S ", b" M "):
            return "lackey"
        if b"," in line and any(c in line.lower() for c in (b"page", b"addr")):
            return "columnar"
        break
    raise InputError(f"{path}: cannot tell the trace format from its name or first lines; "
                     "set workload.format to lackey, columnar or damon")


def convert(path: str, fmt: str, opts: ReaderOptions) -> tuple[list[SparseProcess], int, dict]:
    """Parse a trace (no cache): sparse counts per process, window count, stats."""
    t0 = time.perf_counter()
    if fmt == "lackey":
        from harness.traces.lackey import read_lackey

        acc, n_windows, stats = read_lackey(path, opts)
    elif fmt == "columnar":
        from harness.traces.columnar import read_columnar

        acc, n_windows, stats = read_columnar(path, opts)
    elif fmt == "damon":
        from harness.traces.damon import read_damon

        acc, n_windows, stats = read_damon(path, opts)
    else:
        raise ConfigError(f"format: expected one of auto, {', '.join(FORMATS)}, got {fmt!r}")
    procs = acc.result() if isinstance(acc, Accumulator) else acc
    if fmt == "lackey" and "pid" in stats and len(procs) == 1:
        procs[0].pid = int(stats["pid"])
    secs = time.perf_counter() - t0
    stats["convert_s"] = round(secs, 4)
    unit = unit_of(stats)
    stats["lines_per_s"] = round(stats.get(unit, 0) / secs) if secs > 0 else 0
    return procs, n_windows, stats


def load_trace(path: str | Path, fmt: str = "auto", opts: ReaderOptions | None = None,
               use_cache: bool = True, verbose: bool = True) -> TraceCounts:
    """Read (or fetch from the cache) a trace as dense counts per process."""
    path = str(path)
    opts = opts or ReaderOptions()
    if not Path(path).exists():
        raise InputError(f"{path}: no such trace file")
    if Path(path).is_dir():
        raise InputError(f"{path}: is a directory, expected a trace file")
    if not Path(path).is_file():
        raise InputError(f"{path}: not a regular file (a FIFO or device?), expected a trace file")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ConfigError(f"format: expected one of auto, {', '.join(FORMATS)}, got {fmt!r}")
    if not use_cache:
        procs, n_windows, stats = convert(path, fmt, opts)
        stats["cached"] = False
        return densify(path, fmt, procs, n_windows, opts, stats)
    sha = cache.file_sha256(path)
    key = cache.cache_key(sha, fmt, opts)
    hit = cache.load(key)
    if hit is None:
        with cache.locked(key):
            hit = cache.load(key)  # another process may have converted it meanwhile
            if hit is None:
                procs, n_windows, stats = convert(path, fmt, opts)
                stats["sha256"] = sha
                if verbose:
                    _report(path, fmt, stats)
                cache.save(key, procs, n_windows, stats)
                stats = dict(stats, cached=False)
                return densify(path, fmt, procs, n_windows, opts, stats)
    procs, n_windows, stats = hit
    stats["cached"] = True
    return densify(path, fmt, procs, n_windows, opts, stats)


def unit_of(stats: dict) -> str:
    """What a reader counts its input in: lackey lines, columnar rows, DAMON regions."""
    return next((u for u in ("lines", "rows", "regions") if u in stats), "lines")


def rate(per_s: float, unit: str) -> str:
    return f"{per_s / 1e6:.2f} M {unit}/s" if per_s >= 1e5 else f"{per_s:.0f} {unit}/s"


def _report(path: str, fmt: str, stats: dict) -> None:
    unit = unit_of(stats)
    n = stats.get(unit, 0)
    msg = (f"tiersweep: converted {path} ({fmt}): {n} {unit} in {stats['convert_s']:.2f} s "
           f"({rate(stats['lines_per_s'], unit)}), {stats.get('accesses', 0)} accesses")
    if stats.get("bad_lines"):
        msg += f", {stats['bad_lines']} bad lines skipped (first at line(s) " \
               f"{', '.join(map(str, stats.get('first_bad_lines', [])))})"
    print(msg, file=sys.stderr)


def load_trace_counts(w, page_bytes: int) -> TraceCounts:
    """The counts of a ``kind: trace`` workload (what harness.model calls).

    ``w.processes`` > 1 runs that many copies of the trace's processes.
    """
    opts = ReaderOptions(page_bytes=int(page_bytes), window_ms=int(w.window_ms),
                         instructions_per_s=float(w.instructions_per_s),
                         skip_bad_lines=bool(getattr(w, "skip_bad_lines", False)))
    tc = load_trace(w.path, w.format, opts)
    copies = int(getattr(w, "processes", 1) or 1)
    if copies > 1:
        tc.per_process = tc.per_process * copies
        tc.page_numbers = tc.page_numbers * copies
        tc.pids = tc.pids * copies
    return tc
