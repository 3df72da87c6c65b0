"""A run directory's files: names (layout), the result store (parts), manifest, lock."""

from __future__ import annotations

from harness.run.store.lock import RunLock
from harness.run.store.manifest import (
    check_same_experiment,
    finish_manifest,
    jsonable,
    read_manifest,
    start_manifest,
    write_manifest,
)
from harness.run.store.parts import ResultStore, read_trials, stored_eval_ids, write_parquet

__all__ = ["ResultStore", "RunLock", "check_same_experiment", "finish_manifest", "jsonable", "read_manifest",
           "read_trials", "start_manifest", "stored_eval_ids", "write_manifest",
           "write_parquet"]
