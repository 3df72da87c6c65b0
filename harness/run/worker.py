"""One evaluation, the function a backend runs, and the row it leaves: the trials schema.

An *evaluation* is one simulation: a RunConfig plus where it belongs (run,
mode, trial, label, workload, seed, knob values) and a stable ``eval_id``.
``run_chunk`` runs a chunk of them in a worker (a Ray task or in-process);
``make_row`` turns one output into a ``trials.parquet`` row and its long-form
time series. This module owns the row schema (``HEAD_COLUMNS``,
``TAIL_COLUMNS``, ``order_columns``); readers import it from here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from harness.config import RunConfig

# Leading columns of trials.parquet, in this order; then param.* (sorted), the
# metrics (in the simulator's order), eval_wall_s, worker and finished_at.
HEAD_COLUMNS = ["run", "mode", "trial", "eval_id", "label", "policy", "version", "workload",
                "seed"]
TAIL_COLUMNS = ["eval_wall_s", "worker", "node", "finished_at"]
PARAM_PREFIX = "param."


@dataclass
class Evaluation:
    eval_id: str
    cfg: RunConfig
    run: str = ""
    mode: str = "compare"
    trial: int = -1
    label: str = ""
    workload: str = ""
    seed: int = 0
    params: dict = field(default_factory=dict)
    group: Any = None


def eval_id(run: str, mode: str, key: str, workload: str, seed: int) -> str:
    """Stable id: the same evaluation gets the same id on every run and worker count."""
    return f"{run}/{mode}/{key}/{workload}/s{seed}"


# ------------------------------------------------------------ worker side


def run_chunk(specs: list, *shared) -> list[dict]:
    """Run a chunk of simulations (in a Ray worker or in-process).

    `specs`: (eval_id, RunConfig, [(workload index, shared index), ...]);
    `shared`: the large arrays the driver put into the object store once
    (Ray resolves them to read-only numpy arrays without copying).
    Returns one output per spec: ``{"eval_id", "ok", "metrics", "ts", "worker",
    "eval_wall_s", "finished_at"}``, or ``{"eval_id", "ok": False, "error"}``.
    """
    from harness.model import simulate

    worker = f"{socket.gethostname()}/{os.getpid()}"
    node = _ray_node_id()
    outs = []
    # Tests only: up to this many seconds of random delay per evaluation (another
    # completion order on every run; results must not depend on it).
    delay = float(os.environ.get("TIERSWEEP_TEST_EVAL_DELAY_S") or 0)
    for eid, cfg, subs in specs:
        if delay > 0:
            import random

            time.sleep(random.uniform(0, delay))
        try:
            if subs:
                wls = list(cfg.workloads)
                for wi, si in subs:
                    wls[wi] = dataclasses.replace(wls[wi], counts=shared[si])
                cfg = dataclasses.replace(cfg, workloads=tuple(wls))
            t0 = time.perf_counter()
            res = simulate(cfg)
            sim_s = time.perf_counter() - t0
            outs.append({"eval_id": eid, "ok": True, "metrics": res.metrics,
                         "ts": timeseries_long(res.timeseries), "worker": worker,
                         "node": node, "eval_wall_s": sim_s, "finished_at": time.time()})
        except MemoryError:
            raise  # Ray retries the chunk (retry_exceptions)
        except Exception as exc:  # noqa: BLE001 - reported per evaluation
            msg = str(exc).strip().splitlines()
            outs.append({"eval_id": eid, "ok": False, "worker": worker,
                         "error": f"{type(exc).__name__}: {msg[0] if msg else ''}"})
    return outs


def _ray_node_id() -> str:
    """The Ray node this task runs on ("" outside Ray): which machine of a cluster
    did the work."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return ""
    return str(ray.get_runtime_context().get_node_id())


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


# ------------------------------------------------------------ the row


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v, default=str)


def make_row(ev: Evaluation, out: dict) -> tuple[dict, dict]:
    """A trials.parquet row and the evaluation's long-form time series."""
    m = dict(out["metrics"])
    policy = m.pop("policy", ev.cfg.policy.kind)
    row: dict[str, Any] = {
        "run": ev.run, "mode": ev.mode, "trial": int(ev.trial), "eval_id": ev.eval_id,
        "label": ev.label, "policy": str(policy), "version": str(ev.cfg.policy.version),
        "workload": ev.workload, "seed": int(ev.seed)}
    for k, v in ev.params.items():
        row[f"{PARAM_PREFIX}{k}"] = _scalar(v)
    for k, v in m.items():
        if k in row or k in ("worker", "node", "finished_at"):
            k = f"metric.{k}"
        row[k] = _scalar(v)
    row["eval_wall_s"] = out.get("eval_wall_s", float("nan"))
    row["worker"] = out.get("worker", "")
    row["node"] = out.get("node", "")
    row["finished_at"] = datetime.fromtimestamp(out.get("finished_at", time.time()), UTC)
    cols = out.get("ts") or {}
    n = len(next(iter(cols.values()))) if cols else 0
    ts = {"eval_id": np.full(n, ev.eval_id, dtype=object), **cols}
    return row, ts


def order_columns(df):
    """A trials table (pandas) with its columns in the schema's order."""
    cols = list(df.columns)
    head = [c for c in HEAD_COLUMNS if c in cols]
    tail = [c for c in TAIL_COLUMNS if c in cols]
    params = sorted(c for c in cols if c.startswith(PARAM_PREFIX))
    rest = [c for c in cols if c not in head and c not in tail and c not in params]
    return df[head + params + rest + tail]
