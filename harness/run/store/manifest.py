"""manifest.json: what ran in a run directory, with which versions, and how it ended."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import atomic
from harness.errors import InputError
from harness.run.store.layout import ANOTHER_RUN_DIR, MANIFEST, PARTS


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("tiersweep", "ray", "optuna", "numpy", "pandas", "pyarrow", "pyyaml", "tqdm"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> dict[str, Any] | None:
    root = Path(__file__).resolve().parents[3]  # the repository
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


# What a fingerprint covers, in the manifest's description of an experiment.
_IDENTITY = {"sweep": ("seeds", "resolved", "sweep"), "tune": ("seeds", "resolved", "study.space",
                                                             "study.objectives"),
             "compare": ("seeds", "holdout_seeds", "resolved")}


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    """The first dotted path where two JSON-like values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(dict.fromkeys([*a, *b])):
            d = _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {b!r} here, {a!r} in the directory"


def check_same_experiment(out_dir: Path, mode: str, fingerprint: str, experiment: dict,
                          manifest: dict | None = None) -> None:
    """Refuse a directory holding another `mode` run (other configs, seeds or search
    space), naming the first field that differs. Cheap: commands call it before Ray."""
    m = read_manifest(out_dir) if manifest is None else manifest
    old = (m or {}).get("fingerprints", {}).get(mode)
    if old is None or old == fingerprint:
        return
    stored = (m or {}).get("experiment") or {}
    diff = None
    for key in _IDENTITY.get(mode, ()):
        a, b = stored, jsonable(experiment)
        for part in key.split("."):
            a, b = (a or {}).get(part), (b or {}).get(part)
        diff = _first_difference(a, b, key)
        if diff:
            break
    what = f"({diff})" if diff else "(its configs, seeds or search space differ from this one)"
    raise InputError(f"{out_dir}: holds a different {mode} of {m.get('run', '?')} {what}; "
                     f"{ANOTHER_RUN_DIR}")


def _alive(inv: dict) -> bool:
    """An invocation's process still runs (on this host; another host's cannot be
    checked and is taken as alive while a shared study runs)."""
    if inv.get("host") != socket.gethostname():
        return inv.get("shared", False)
    try:
        os.kill(int(inv.get("pid", -1)), 0)
    except (OSError, ValueError):
        return False
    return int(inv.get("pid", -1)) != os.getpid()


def start_manifest(out_dir: Path, *, mode: str, fingerprint: str, experiment: dict,
                   command: list[str] | None, extra: dict | None = None,
                   top: dict | None = None) -> dict:
    """Create or extend manifest.json; refuse a directory holding another experiment.
    Called under the run directory's lock: an invocation still "running" whose
    process is gone died (killed, disk full), so it is marked "interrupted", and
    temporary files left by dead writers are removed. Under the store lock:
    drivers sharing the directory add their invocations one at a time."""
    from harness.run.store.lock import store_lock

    with store_lock(out_dir):
        for d in (out_dir, Path(out_dir) / PARTS):
            atomic.remove_stale_temp_files(d)
        m = read_manifest(out_dir) or {}
        for inv in m.get("invocations", []):
            if inv.get("status") == "running" and not _alive(inv):
                inv["status"] = "interrupted"
        check_same_experiment(out_dir, mode, fingerprint, experiment, m)
        fps = m.setdefault("fingerprints", {})
        fps[mode] = fingerprint
        m["run"] = experiment.get("name")
        m["experiment"] = experiment
        m.update(top or {})  # e.g. where readers find the study
        m.setdefault("created_at", _now())
        inv = {"mode": mode, "command": command if command is not None else sys.argv,
               "cwd": os.getcwd(), "started_at": _now(), "host": socket.gethostname(),
               "pid": os.getpid(), "versions": package_versions(), "git": git_revision(),
               "status": "running", **(extra or {})}
        m.setdefault("invocations", []).append(inv)
        write_manifest(out_dir, m)
    return m


def finish_manifest(out_dir: Path, manifest: dict, status: str, **info: Any) -> None:
    """Close this invocation's record (found again in the file: other drivers'
    records written meanwhile are kept)."""
    from harness.run.store.lock import store_lock

    mine = manifest["invocations"][-1]
    mine.update(status=status, finished_at=_now(), **info)
    with store_lock(out_dir):
        m = read_manifest(out_dir) or manifest
        for inv in m.setdefault("invocations", []):
            if (inv.get("pid"), inv.get("started_at")) == (mine["pid"], mine["started_at"]):
                inv.update(mine)
                break
        else:
            m["invocations"].append(mine)
        write_manifest(out_dir, m)


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()
