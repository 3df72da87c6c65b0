"""A results directory as validated tables: ``trials.parquet`` (one row per
evaluation), the long-form ``timeseries.parquet``, the manifest and, for
studies, the Optuna journal.

Part files a running (or stopped) command appended and has not merged yet are
read the way the result store merges them, the newest row of an eval_id winning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import InputError
from harness.run.store.layout import (
    JOURNAL_GLOB,
    MANIFEST,
    PARTS,
    TIMESERIES,
    TRIALS,
    TRIALS_PART,
    TS_PART,
    part_files,
)
from harness.run.store.parts import SOURCE, newest_rows, newest_series

# Columns the figures, report and defaults need, and their kind: schema columns
# (harness.run.worker) and three metrics.
REQUIRED_TRIAL_COLUMNS: dict[str, str] = {
    "run": "text", "mode": "text", "eval_id": "text", "label": "text", "policy": "text",
    "workload": "text", "seed": "number", "hit_rate": "number", "cost_cpu_s": "number",
    "objective": "number",
}
REQUIRED_TIMESERIES_COLUMNS: dict[str, str] = {
    "eval_id": "text", "t_s": "number", "hit_rate": "number", "queue_len": "number",
    "promotions": "number",
}


@dataclass
class RunData:
    """One results directory, validated."""

    path: Path
    trials: pd.DataFrame
    timeseries: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    journal: Path | None = None
    notes: list[str] = field(default_factory=list)
    # Per-workload studies' evaluations (mode "own"), kept out of `trials`: each
    # covers one workload, so they are not points of the suite.
    own: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        runs = self.trials["run"].unique()
        return str(runs[0]) if len(runs) == 1 else self.path.name


def _kind_ok(series: pd.Series, kind: str) -> bool:
    if kind == "number":
        return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: missing; expected {what}")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable parquet file ({reason}); "
                         f"expected {what}") from None


def _check_columns(df: pd.DataFrame, path: Path, required: dict[str, str]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected at least "
                         f"{', '.join(required)}")
    for col, kind in required.items():
        if not _kind_ok(df[col], kind):
            want = "numbers" if kind == "number" else "text"
            raise InputError(f"{path}: column {col}: expected {want}, got dtype {df[col].dtype}")


def read_trials(path: str | Path, parts: list[Path] = ()) -> pd.DataFrame:
    """``trials.parquet`` (plus unmerged part files, the newest row of an eval_id
    winning, as the result store merges them), validated: required columns and
    kinds, unique eval ids."""
    p = Path(path)
    frames = []
    for f in ([p] if p.exists() or not parts else []) + list(parts):
        part = _read_parquet(f, "the results table (one row per evaluation)")
        _check_columns(part, f, REQUIRED_TRIAL_COLUMNS)
        frames.append(part)
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if parts:
        df = newest_rows(df)
    if df.empty:
        raise InputError(f"{p}: no rows; expected one row per evaluation")
    dup = df["eval_id"].duplicated()
    if dup.any():
        raise InputError(f"{p}: column eval_id: expected unique values, "
                         f"{int(dup.sum())} duplicate(s) such as {df['eval_id'][dup].iloc[0]!r}")
    hr = df["hit_rate"].dropna()
    if ((hr < 0) | (hr > 1)).any():
        raise InputError(f"{p}: column hit_rate: expected shares in [0, 1]")
    for col in ("label", "policy", "workload"):
        if df[col].isna().any():
            raise InputError(f"{p}: column {col}: expected a value in every row")
    return df.reset_index(drop=True)


def read_timeseries(path: str | Path, parts: list[Path] = ()) -> pd.DataFrame:
    """``timeseries.parquet`` (plus unmerged parts: an eval_id's samples come from the
    newest file that has it), validated."""
    p = Path(path)
    frames = []
    for k, f in enumerate(([p] if p.exists() or not parts else []) + list(parts)):
        part = _read_parquet(f, "the time series (long form keyed by eval_id)")
        _check_columns(part, f, REQUIRED_TIMESERIES_COLUMNS)
        frames.append(part.assign(**{SOURCE: k}))
    return newest_series(pd.concat(frames, ignore_index=True))


def read_manifest(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); expected the run manifest") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (the run manifest)")
    return data


def find_journal(run_dir: Path, manifest: dict) -> Path | None:
    """The Optuna journal of a study run: the journal file the latest tune invocation
    recorded in the manifest (its storage), else the run directory's *.journal."""
    for inv in reversed(manifest.get("invocations") or []):
        val = inv.get("storage") if isinstance(inv, dict) else None
        if isinstance(val, str) and "://" not in val:
            cand = Path(val)
            cand = cand if cand.is_absolute() else run_dir / cand
            if cand.is_file():
                return cand
    found = sorted(run_dir.glob(JOURNAL_GLOB))
    return found[0] if found else None


def study_name(manifest: dict) -> str | None:
    """The study's name: tune names it after the run (the experiment's name)."""
    name = manifest.get("study_name") or manifest.get("run")
    return str(name) if name else None


def load_run(path: str | Path) -> RunData:
    """A results directory: ``trials.parquet`` required; time series, manifest, journal optional."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such results directory")
    if not p.is_dir():
        raise InputError(f"{p}: not a directory; expected a results directory "
                         f"(results/<name>/ with {TRIALS})")
    tparts, sparts = part_files(p, TRIALS_PART), part_files(p, TS_PART)
    if not (p / TRIALS).exists() and not tparts:
        raise InputError(f"{p / TRIALS}: missing; expected a results directory written by "
                         f"`tiersweep sweep`, `tune` or `compare`")
    trials = read_trials(p / TRIALS, tparts)
    ts = read_timeseries(p / TIMESERIES, sparts) \
        if (p / TIMESERIES).exists() or sparts else None
    manifest = read_manifest(p / MANIFEST)
    is_own = trials["mode"] == "own"
    own = trials[is_own].reset_index(drop=True)
    if len(own):
        trials = trials[~is_own].reset_index(drop=True)
    run = RunData(path=p, trials=trials, timeseries=ts, manifest=manifest,
                  journal=find_journal(p, manifest), own=own)
    if tparts:
        run.notes.append(f"{len(tparts)} part file(s) in {PARTS}/ not merged yet (a command "
                         "is running or was stopped) are included")
    bad = int(trials["objective"].isna().sum())
    if bad:
        run.notes.append(f"{bad} evaluation(s) without an objective (failed?) are left out")
        run.trials = trials[trials["objective"].notna()].reset_index(drop=True)
        if run.trials.empty:
            raise InputError(f"{p / TRIALS}: every row lacks an objective; nothing to report")
    return run
