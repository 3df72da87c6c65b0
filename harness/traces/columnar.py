"""Columnar page-access traces: parquet, or CSV (plain or compressed).

CSV files may be plain, gzip or bzip2 (detected from the first bytes).
One row = some accesses of one process to one page in one time window.

* time, one of: ``window`` (index of the window of ``window_ms``),
  ``time_s``, ``time_ms`` or ``time_ns`` (time since the start of the
  trace; the window is ``floor(time / window_ms)``);
* ``pid`` (optional, default 0): one model process per distinct pid;
* location, one of: ``page`` (a page id; each distinct id is one page of the
  platform's page size) or ``addr`` (a byte address, an integer or a
  ``0x...`` hex string; page = addr // page size);
* ``count`` (optional, default 1): accesses, an integer >= 0.

Rows may come in any order and repeat a (window, pid, page); counts add up.
Files are read in batches of rows, so memory is bounded by the distinct
(window, page) pairs, not by the number of rows.
"""

from __future__ import annotations

import os

import numpy as np

from harness.errors import InputError
from harness.traces.base import Accumulator, ReaderOptions

BATCH_ROWS = 1 << 20
INT_END = 2.0**63  # integers are read into int64
TIME_COLUMNS = {"window": None, "time_s": 1e3, "time_ms": 1.0, "time_ns": 1e-6}


def _is_parquet(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _compression(path: str) -> str | None:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic[:3] == b"BZh":
        return "bz2"
    return None


def _pick(path: str, names: list[str]) -> tuple[str, str, str | None, str | None]:
    cols = [c.strip().lower() for c in names]
    times = [c for c in TIME_COLUMNS if c in cols]
    locs = [c for c in ("page", "addr") if c in cols]
    if len(times) != 1 or len(locs) != 1:
        raise InputError(
            f"{path}: expected columns: one of window, time_s, time_ms, time_ns; one of page, "
            f"addr; optional pid and count; found {', '.join(names) or 'none'}")
    return (times[0], locs[0], "pid" if "pid" in cols else None,
            "count" if "count" in cols else None)


def _batches(path: str):
    """Yield (DataFrame with lower-case column names, first row's line number, is_csv)."""
    import pandas as pd

    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: empty file (expected a trace)")
    if path.lower().endswith(".parquet") and not _is_parquet(path):
        raise InputError(f"{path}: not a parquet file (no PAR1 header)")
    if _is_parquet(path):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            names = list(pf.schema_arrow.names)
            lower = {n: n.strip().lower() for n in names}
            row = 1
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                df = batch.to_pandas().rename(columns=lower)
                yield df, row, False
                row += len(df)
        except (OSError, ValueError) as exc:  # pyarrow errors derive from these
            raise InputError(f"{path}: cannot read parquet: {exc}") from None
        return
    try:
        reader = pd.read_csv(path, chunksize=BATCH_ROWS, compression=_compression(path),
                             skipinitialspace=True, comment="#")
        line = 2
        for df in reader:
            df.columns = [c.strip().lower() for c in df.columns]
            yield df, line, True
            line += len(df)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty CSV file (expected a header line)") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from None
    except (EOFError, OSError) as exc:
        raise InputError(f"{path}: cannot read (truncated or corrupt file?): {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text CSV file") from None


def _ints(col, hexok: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integers >= 0 from a column; (values as int64, bad-row mask)."""
    import pandas as pd

    n = len(col)
    kind = col.dtype.kind
    if kind in "iu":
        arr = col.to_numpy().astype(np.int64)
        return arr, arr < 0
    if kind == "f":
        fl = col.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(fl) | (fl < 0) | (fl != np.floor(fl)) | (fl >= INT_END)
        return np.where(bad, 0, fl).astype(np.int64), bad
    out = np.zeros(n, dtype=np.int64)
    bad = np.ones(n, dtype=bool)
    if kind == "b":
        return out, bad
    txt = col.astype(str).str.strip()
    ishex = (txt.str.lower().str.startswith("0x") if hexok else pd.Series(False, index=txt.index))
    ishex = ishex.to_numpy(dtype=bool)
    dec = np.flatnonzero(~ishex)
    if len(dec):
        num = pd.to_numeric(txt.iloc[dec], errors="coerce")
        if num.dtype.kind in "iu":
            vals = num.to_numpy().astype(np.int64)
            good = vals >= 0
        else:
            fl = num.to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                good = np.isfinite(fl) & (fl >= 0) & (fl == np.floor(fl)) & (fl < INT_END)
            vals = np.zeros(len(dec), dtype=np.int64)
            if good.any():  # re-parse the good ones exactly (floats lose big integers)
                exact = pd.to_numeric(txt.iloc[dec[good]].str.replace(r"\.0*$", "", regex=True),
                                      errors="coerce")
                vals[good] = exact.to_numpy(dtype=np.float64 if exact.dtype.kind == "f"
                                            else np.int64).astype(np.int64)
        out[dec] = vals
        bad[dec] = ~good
    for i in np.flatnonzero(ishex):
        try:
            out[i] = int(txt.iloc[i], 16)
            bad[i] = out[i] < 0
        except (ValueError, OverflowError):
            pass
    return out, bad


def _floats(values) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    fl = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64,
                                                                      na_value=np.nan)
    return fl, ~np.isfinite(fl) | (fl < 0)


def read_columnar(path: str, opts: ReaderOptions) -> tuple[Accumulator, int, dict]:
    acc = Accumulator()
    rows = bad_rows = 0
    first_bad: list[int] = []
    max_window = -1
    for df, line0, is_csv in _batches(path):
        tcol, lcol, pcol, ccol = _pick(path, list(df.columns))
        n = len(df)
        bad = np.zeros(n, dtype=bool)
        why = {}
        if tcol == "window":
            window, b = _ints(df[tcol], hexok=False)
        else:
            t, b = _floats(df[tcol])
            with np.errstate(invalid="ignore"):
                window = np.floor(np.where(b, 0, t) * TIME_COLUMNS[tcol] / opts.window_ms)
            window = window.astype(np.int64)
        why[tcol] = b
        if lcol == "page":
            page, b = _ints(df[lcol], hexok=True)
        else:
            addr, b = _ints(df[lcol], hexok=True)
            page = addr.astype(np.uint64) // np.uint64(opts.page_bytes)
        why[lcol] = b
        if pcol:
            pid, b = _ints(df[pcol], hexok=False)
            why[pcol] = b
        else:
            pid = np.zeros(n, dtype=np.int64)
        if ccol:
            count, b = _ints(df[ccol], hexok=False)
            why[ccol] = b
        else:
            count = np.ones(n, dtype=np.int64)
        for b in why.values():
            bad |= b
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = f"{path}:{line0 + i}" if is_csv else f"{path}: row {line0 + i}"
            if not opts.skip_bad_lines:
                col = next(c for c, b in why.items() if b[i])
                whole = col != tcol or tcol == "window"
                got = df[col].iloc[i]
                got = got.item() if isinstance(got, np.generic) else got
                raise InputError(f"{where}: column {col!r}: expected "
                                 f"{'an integer in [0, 2^63)' if whole else 'a number >= 0'}, "
                                 f"got {got!r}")
            bad_rows += int(bad.sum())
            first_bad.extend(int(line0 + j) for j in np.flatnonzero(bad)[:5 - len(first_bad)])
        rows += n
        keep = ~bad & (count > 0)
        if not keep.any():
            continue
        window, page, pid, count = window[keep], page[keep], pid[keep], count[keep]
        max_window = max(max_window, int(window.max()))
        for p in np.unique(pid):
            sel = pid == p
            acc.add(int(p), window[sel], page[sel].astype(np.uint64), count[sel])
    stats = dict(rows=rows, accesses=acc.accesses, bad_lines=bad_rows, first_bad_lines=first_bad)
    return acc, max_window + 1, stats


def write_columnar(tc, out: str) -> int:
    """A converted trace (TraceCounts) as a columnar parquet trace: ``time_ms``
    (the window's start), ``pid``, ``page``, ``count``, one row per page and
    window with accesses; read back with the same window_ms it gives the same
    counts. Written atomically; returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness import atomic

    cols: dict[str, list[np.ndarray]] = {"time_ms": [], "pid": [], "page": [], "count": []}
    for pid, counts, pages in zip(tc.pids, tc.per_process, tc.page_numbers, strict=True):
        w, j = np.nonzero(counts)
        cols["time_ms"].append(w.astype(np.int64) * tc.window_ms)
        cols["pid"].append(np.full(len(w), pid, np.int64))
        cols["page"].append(np.asarray(pages, np.int64)[j])
        cols["count"].append(counts[w, j].astype(np.int64))
    table = pa.table({k: pa.array(np.concatenate(v), pa.int64()) for k, v in cols.items()})
    atomic.write_with(out, lambda f: pq.write_table(table, f, compression="zstd"))
    return table.num_rows
