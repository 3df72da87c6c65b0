"""Results of a run directory: trials.parquet, timeseries.parquet, manifest.json.

Layout of ``results/<name>/`` (or ``--out DIR``)::

    trials.parquet       one row per evaluation (consolidated)
    timeseries.parquet   the time series of every evaluation, long form
    parts/               batches appended as results arrive (trials-*.parquet, ts-*.parquet)
    manifest.json        resolved config, seeds, package versions, git revision, commands
    study.journal        the Optuna journal storage (tune, unless --storage is given)
    study_trials.parquet Optuna's view of the study's trials (tune)

Appending: finished evaluations are buffered for at most about a second and
then written as one new part file (write to a temporary name, then
``os.replace``), so a crash loses only evaluations in flight or finished in
the last second (and, in a study, never those of a trial already told to
Optuna: the buffer is flushed before every ``tell``). ``trials.parquet`` is
rebuilt from itself plus the parts (deduplicated by ``eval_id``, the newest
row winning) at the start and the end of every command and then the merged
parts are deleted; a crash in between only leaves parts that the next merge
takes in again. ``read_trials(dir)`` returns the merged table at any time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness import atomic
from harness.errors import InputError, TiersweepError

TRIALS = "trials.parquet"
TIMESERIES = "timeseries.parquet"
MANIFEST = "manifest.json"
PARTS = "parts"

# Leading columns of trials.parquet, in this order; then param.* (sorted), the
# metrics (in the simulator's order), eval_wall_s, worker and finished_at.
HEAD_COLUMNS = ["run", "mode", "trial", "eval_id", "label", "policy", "version", "workload",
                "seed"]
TAIL_COLUMNS = ["eval_wall_s", "worker", "finished_at"]


# ---------------------------------------------------------------- writing


def atomic_write_parquet(df: pd.DataFrame | pa.Table, path: Path, sync: bool = True) -> None:
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


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    cols = list(df.columns)
    head = [c for c in HEAD_COLUMNS if c in cols]
    tail = [c for c in TAIL_COLUMNS if c in cols]
    params = sorted(c for c in cols if c.startswith("param."))
    rest = [c for c in cols if c not in head and c not in tail and c not in params]
    return df[head + params + rest + tail]


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
        self.consolidate()
        table = self._read(self.dir / TRIALS)
        self._index: dict[str, dict] = {}
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
            atomic_write_parquet(concat_tables(self._ts), self.parts / f"ts-{stamp}.parquet",
                                 sync=False)
        atomic_write_parquet(rows_table(self._rows), self.parts / f"trials-{stamp}.parquet",
                             sync=False)
        self._rows, self._ts = [], []

    def consolidate(self) -> None:
        """Merge parts into trials.parquet / timeseries.parquet, then drop them."""
        self.flush()
        tparts = sorted(self.parts.glob("trials-*.parquet"))
        sparts = sorted(self.parts.glob("ts-*.parquet"))
        if not tparts and not sparts:
            return
        tables = [t for t in [self._read(self.dir / TRIALS)] + [self._read(p) for p in tparts]
                  if t is not None and t.num_rows]
        if tables:
            df = concat_tables(tables).to_pandas()
            df = df.drop_duplicates("eval_id", keep="last").reset_index(drop=True)
            atomic_write_parquet(order_columns(df), self.dir / TRIALS)
        stables = []
        for k, t in enumerate([self._read(self.dir / TIMESERIES)] +
                              [self._read(p) for p in sparts]):
            if t is not None and t.num_rows:
                stables.append(t.append_column("_src", pa.array(np.full(t.num_rows, k))))
        if stables:
            ts = concat_tables(stables).to_pandas()
            newest = ts.groupby("eval_id")["_src"].transform("max")
            ts = ts[ts["_src"] == newest].drop(columns="_src").reset_index(drop=True)
            atomic_write_parquet(ts, self.dir / TIMESERIES)
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
    for p in [d / TRIALS] + sorted((d / PARTS).glob("trials-*.parquet")):
        if p.exists():
            frames.append(pd.read_parquet(p))
    if not frames:
        raise InputError(f"{d}: no {TRIALS} (nothing has run here yet)")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return order_columns(df.drop_duplicates("eval_id", keep="last").reset_index(drop=True))


def read_timeseries(out_dir: str | Path) -> pd.DataFrame:
    d = Path(out_dir)
    frames = []
    for k, p in enumerate([d / TIMESERIES] + sorted((d / PARTS).glob("ts-*.parquet"))):
        if p.exists():
            frames.append(pd.read_parquet(p).assign(_src=k))
    if not frames:
        raise InputError(f"{d}: no {TIMESERIES}")
    ts = pd.concat(frames, ignore_index=True)
    newest = ts.groupby("eval_id")["_src"].transform("max")
    return ts[ts["_src"] == newest].drop(columns="_src").reset_index(drop=True)


# ------------------------------------------------------------ time series


def timeseries_long(ts: dict[str, list]) -> dict[str, np.ndarray]:
    """RunResult.timeseries -> long-form columns.

    One row per (sample, mm): per-sample series (t_s, hit_rate, queue_len,
    ...) are repeated on each mm row; per-mm series (lists of one value per
    process, e.g. scan_period_ms, scan_size_mb) are spread over the rows with
    `mm` = the process index. A sample without per-mm values has one row
    with mm = -1 and NaN per-mm columns. An mm that has exited gives NaN.
    """
    n = len(ts.get("t_s", ()))
    per_sample: dict[str, list] = {}
    per_mm: dict[str, list] = {}
    for k, v in ts.items():
        if len(v) != n:
            continue
        if any(isinstance(x, list | tuple) for x in v):
            per_mm[k] = [list(x) if isinstance(x, list | tuple) else [] for x in v]
        else:
            per_sample[k] = list(v)
    if per_mm:
        m = np.array([max(len(vals[i]) for vals in per_mm.values()) for i in range(n)],
                     dtype=np.int64)
    else:
        m = np.zeros(n, dtype=np.int64)
    reps = np.maximum(m, 1)
    sample = np.repeat(np.arange(n, dtype=np.int64), reps)
    mm = np.concatenate([np.arange(k) if k else np.array([-1]) for k in m]).astype(np.int64) \
        if n else np.zeros(0, dtype=np.int64)
    out: dict[str, np.ndarray] = {"sample": sample}
    for k, v in per_sample.items():
        arr = _as_array(v)
        out[k] = np.repeat(arr, reps)
    out["mm"] = mm
    for k, vals in per_mm.items():
        flat = np.full(len(sample), np.nan)
        pos = 0
        for i in range(n):
            row = vals[i]
            for j in range(reps[i]):
                if j < len(row) and row[j] is not None:
                    flat[pos + j] = float(row[j])
            pos += reps[i]
        out[k] = flat
    return out


def _as_array(v: list) -> np.ndarray:
    if all(x is None or (isinstance(x, int | float) and not isinstance(x, bool)) for x in v):
        return np.array([np.nan if x is None else x for x in v],
                        dtype=np.int64 if all(isinstance(x, int) for x in v) else np.float64)
    return np.array(v, dtype=object)


# -------------------------------------------------------------- manifest


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("tiersweep", "ray", "optuna", "numpy", "pandas", "pyarrow", "pyyaml", "tqdm"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> dict[str, Any] | None:
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                            capture_output=True, text=True, timeout=10)
        return {"commit": rev.stdout.strip(), "dirty": bool(st.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def read_manifest(out_dir: str | Path) -> dict | None:
    p = Path(out_dir) / MANIFEST
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read manifest: {exc}") from None


def write_manifest(out_dir: str | Path, manifest: dict) -> None:
    p = Path(out_dir) / MANIFEST
    atomic.write_text(p, json.dumps(jsonable(manifest), indent=2, sort_keys=False) + "\n",
                      sync=True)


def start_manifest(out_dir: Path, *, mode: str, fingerprint: str, experiment: dict,
                   command: list[str] | None, extra: dict | None = None) -> dict:
    """Create or extend manifest.json; refuse a directory holding another experiment."""
    m = read_manifest(out_dir) or {}
    fps = m.setdefault("fingerprints", {})
    old = fps.get(mode)
    if old is not None and old != fingerprint:
        raise InputError(
            f"{out_dir}: holds a different {mode} of {m.get('run', '?')} (its configs, seeds or "
            "search space differ from this one); use --out DIR for a new run directory")
    fps[mode] = fingerprint
    m["run"] = experiment.get("name")
    m["experiment"] = experiment
    m.setdefault("created_at", _now())
    inv = {"mode": mode, "command": command if command is not None else sys.argv,
           "cwd": os.getcwd(), "started_at": _now(), "host": socket.gethostname(),
           "pid": os.getpid(), "versions": package_versions(), "git": git_revision(),
           "status": "running", **(extra or {})}
    m.setdefault("invocations", []).append(inv)
    write_manifest(out_dir, m)
    return m


def finish_manifest(out_dir: Path, manifest: dict, status: str, **info: Any) -> None:
    inv = manifest["invocations"][-1]
    inv["status"] = status
    inv["finished_at"] = _now()
    inv.update(info)
    write_manifest(out_dir, manifest)


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


# ------------------------------------------------------------------ lock


class RunLock:
    """One driver per run directory: an flock on DIR/.lock (freed when the process dies)."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / ".lock"
        self._f = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held for the lock's lifetime
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise TiersweepError(f"{self.path.parent}: in use by another tiersweep process "
                                 f"(pid {holder}); wait for it or use --out DIR") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc) -> None:
        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()
            self._f = None
