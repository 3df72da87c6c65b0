"""The result store: evaluation rows appended as part files, merged into the tables.

Appending: finished evaluations are buffered for at most about a second and
then written as one new part file (atomically: harness.atomic), so a crash
loses only evaluations in flight or finished in the last second (and, in a
study, never those of a trial already told to Optuna: the buffer is flushed
before every ``tell``). ``trials.parquet`` is rebuilt from itself plus the
parts (deduplicated by ``eval_id``, the newest row winning) at the start and
the end of every command and then the merged parts are deleted; a crash in
between only leaves parts that the next merge takes in again.
``read_trials(dir)`` returns the merged table at any time. File names:
harness.run.store.layout.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness import atomic
from harness.errors import InputError
from harness.run.store.layout import (
    PARTS,
    TIMESERIES,
    TRIALS,
    TRIALS_PART,
    TS_PART,
    part_files,
    part_path,
)
from harness.run.store.lock import store_lock
from harness.run.worker import order_columns

# ---------------------------------------------------------------- writing


def write_parquet(df: pd.DataFrame | pa.Table, path: Path, sync: bool = True) -> None:
    """Write a table atomically (readers never see a torn file); `sync` also fsyncs."""
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(_normalize(df),
                                                                    preserve_index=False)
    atomic.write_with(path, lambda f: pq.write_table(table, f), sync=sync)


def rows_table(rows: list[dict]) -> pa.Table:
    """Rows (dicts, possibly with different keys) -> an Arrow table, columns in first-seen order."""
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(k, None)
    try:
        return pa.table({k: [r.get(k) for r in rows] for k in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column mixing Python types
        return pa.Table.from_pandas(_normalize(pd.DataFrame(rows)), preserve_index=False)


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. a knob once int, once text
        frames = [t.to_pandas() for t in tables]
        return pa.Table.from_pandas(_normalize(pd.concat(frames, ignore_index=True)),
                                    preserve_index=False)


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Columns that mix Python types (e.g. a categorical knob of ints and
    strings) become text so that Arrow can store them."""
    for col in df.columns:
        if df[col].dtype == object:
            kinds = {type(v) for v in df[col] if v is not None and not
                     (isinstance(v, float) and np.isnan(v))}
            if len(kinds) > 1 or (kinds and not kinds <= {bool, int, float, str}):
                df[col] = df[col].map(lambda v: None if v is None else str(v))
    return df


# ------------------------------------------------------------- the merge rule
# Files are merged oldest first (the consolidated table, then the parts in
# stamp order); the newest wins.

SOURCE = "_src"  # with newest_series: the index of the file a time-series row came from


def newest_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One trials row per eval_id: the last one (rows of older files first)."""
    return df.drop_duplicates("eval_id", keep="last").reset_index(drop=True)


def newest_series(ts: pd.DataFrame) -> pd.DataFrame:
    """Each eval_id's samples from the newest file that has it (column SOURCE, dropped)."""
    newest = ts.groupby("eval_id")[SOURCE].transform("max")
    return ts[ts[SOURCE] == newest].drop(columns=SOURCE).reset_index(drop=True)


class ResultStore:
    """Append-only store of evaluation rows and time series in a run directory."""

    def __init__(self, out_dir: str | Path, flush_s: float = 1.0):
        self.dir = Path(out_dir)
        self.parts = self.dir / PARTS
        self.parts.mkdir(parents=True, exist_ok=True)
        self.flush_s = flush_s
        self._rows: list[dict] = []
        self._ts: list[pd.DataFrame] = []
        self._last_flush = time.monotonic()
        self._seq = 0
        self._index: dict[str, dict] = {}
        self.consolidate()

    def _load(self) -> None:
        """The index: every row of trials.parquet (this process's rows are in it:
        consolidate flushed them first)."""
        table = self._read(self.dir / TRIALS)
        if table is not None:
            for rec in table.to_pandas().to_dict("records"):
                self._index[rec["eval_id"]] = rec

    # ----------------------------------------------------------- lookups
    def __contains__(self, eval_id: str) -> bool:
        return eval_id in self._index

    def get(self, eval_id: str) -> dict | None:
        return self._index.get(eval_id)

    def __len__(self) -> int:
        return len(self._index)

    def rows(self, eval_ids) -> list[dict]:
        return [self._index[e] for e in eval_ids if e in self._index]

    # ------------------------------------------------------------ writes
    def add(self, row: dict, ts: dict | pd.DataFrame | None = None) -> None:
        """Add a row (and its time series: columns incl. eval_id) to the next flush."""
        self._index[row["eval_id"]] = row
        self._rows.append(row)
        if ts is not None and len(ts):
            self._ts.append(ts if isinstance(ts, pa.Table) else pa.table(
                ts if isinstance(ts, dict) else ts.to_dict("list")))

    def maybe_flush(self) -> None:
        if self._rows and time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        """Append the buffered rows as new part files (no fsync: a part only has to
        survive the death of this process; consolidated files are fsynced)."""
        self._last_flush = time.monotonic()
        if not self._rows:
            return
        stamp = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}"
        self._seq += 1
        # Time series first: a trials row never exists without its series.
        if self._ts:
            write_parquet(concat_tables(self._ts), part_path(self.dir, TS_PART, stamp),
                          sync=False)
        write_parquet(rows_table(self._rows), part_path(self.dir, TRIALS_PART, stamp),
                      sync=False)
        self._rows, self._ts = [], []

    def consolidate(self) -> None:
        """Merge parts into trials.parquet / timeseries.parquet, then drop them
        (under the directory's store lock: drivers sharing it take turns)."""
        self.flush()
        with store_lock(self.dir):
            self._consolidate()
        # Rows other drivers merged meanwhile: this driver sees them too.
        self._load()

    def _consolidate(self) -> None:
        # Series parts listed first: a part pair flushed in between keeps its trials
        # part for the next merge, never its series alone.
        sparts = part_files(self.dir, TS_PART)
        tparts = part_files(self.dir, TRIALS_PART)
        if not tparts and not sparts:
            return
        tables = [t for t in [self._read(self.dir / TRIALS)] + [self._read(p) for p in tparts]
                  if t is not None and t.num_rows]
        if tables:
            df = newest_rows(concat_tables(tables).to_pandas())
            write_parquet(order_columns(df), self.dir / TRIALS)
        stables = []
        for k, t in enumerate([self._read(self.dir / TIMESERIES)] +
                              [self._read(p) for p in sparts]):
            if t is not None and t.num_rows:
                stables.append(t.append_column(SOURCE, pa.array(np.full(t.num_rows, k))))
        if stables:
            write_parquet(newest_series(concat_tables(stables).to_pandas()),
                          self.dir / TIMESERIES)
        for p in tparts + sparts:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def table(self) -> pd.DataFrame:
        """Every stored row (this run's included), one per eval_id."""
        return order_columns(pd.DataFrame(list(self._index.values())))

    @staticmethod
    def _read(path: Path) -> pa.Table | None:
        if not path.exists():
            return None
        try:
            return pq.read_table(path)
        except Exception as exc:  # a torn file cannot happen (os.replace), but say so
            raise InputError(f"{path}: cannot read parquet file: {exc}") from None


def read_trials(out_dir: str | Path) -> pd.DataFrame:
    """The merged trials table of a run directory (trials.parquet plus parts)."""
    d = Path(out_dir)
    frames = []
    for p in [d / TRIALS, *part_files(d, TRIALS_PART)]:
        if p.exists():
            frames.append(pd.read_parquet(p))
    if not frames:
        raise InputError(f"{d}: no {TRIALS} (nothing has run here yet)")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return order_columns(newest_rows(df))


def stored_eval_ids(out_dir: str | Path) -> set[str]:
    """The eval ids a run directory holds (none when nothing has run there), read
    without merging or writing anything."""
    try:
        return set(read_trials(out_dir)["eval_id"])
    except InputError:
        return set()
