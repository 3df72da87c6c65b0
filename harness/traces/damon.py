"""DAMON traces: the JSON written by ``damo record`` (plain, zlib or gzip).

The file is a list of records, one per monitoring target::

    [{"kdamond_idx": 0, "context_idx": 0, "target_id": 1234,
      "intervals": {"sample": 5000, "aggr": 100000, ...},      # microseconds
      "snapshots": [{"start_time": 1000, "end_time": 100001000,  # nanoseconds
                     "regions": [{"start": 140737488289792, "end": 140737488355328,
                                  "nr_accesses": {"samples": 12, "percent": 60}, ...}]}]}]

Numbers may be JSON numbers or strings of digits (``damo``'s raw form).
A region's ``nr_accesses`` counts the sampling intervals of the snapshot in
which DAMON saw the region accessed. Every page of the region gets that many
accesses in that snapshot (a lower bound: one per sampling interval, spread
evenly over the region); a snapshot spanning several windows is split
between them in proportion to its overlap. The footprint of a target is the
pages of its regions that were accessed in at least one snapshot. Each
target is one process (``target_id``, else its position in the list).
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np

from harness.errors import InputError
from harness.traces.base import MAX_CELLS, ReaderOptions, SparseProcess


def read_bytes(path: str) -> bytes:
    """The whole file, gunzipped or zlib-inflated if it is compressed."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except EOFError:
            raise InputError(f"{path}: truncated gzip file: the data ends before the gzip "
                             "end-of-stream marker") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"{path}: corrupt gzip data: {exc}") from None
    if len(raw) >= 2 and raw[0] == 0x78 and (raw[0] * 256 + raw[1]) % 31 == 0:
        d = zlib.decompressobj()
        try:
            out = d.decompress(raw)
        except zlib.error as exc:
            raise InputError(f"{path}: corrupt zlib data: {exc}") from None
        if not d.eof:
            raise InputError(f"{path}: truncated zlib data: the stream ends early")
        return out
    return raw


def _num(v, where: str) -> int:
    if isinstance(v, bool) or v is None:
        raise InputError(f"{where}: expected a number, got {v!r}")
    if isinstance(v, int | float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(float(v.replace(",", "").strip()))
        except ValueError:
            pass
    raise InputError(f"{where}: expected a number, got {v!r}")


def _samples(region: dict, intervals: dict | None, where: str) -> int:
    nr = region.get("nr_accesses")
    if isinstance(nr, dict):
        if nr.get("samples") is not None:
            return _num(nr["samples"], f"{where}.nr_accesses.samples")
        if nr.get("percent") is not None and intervals:
            per = _num(intervals.get("aggr"), f"{where}: intervals.aggr") / max(
                1, _num(intervals.get("sample"), f"{where}: intervals.sample"))
            return int(float(nr["percent"]) * per / 100)
        raise InputError(f"{where}.nr_accesses: expected samples (or percent with intervals)")
    return _num(nr, f"{where}.nr_accesses")


def _parse(path: str, opts: ReaderOptions):
    try:
        doc = json.loads(read_bytes(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid DAMON JSON: {exc}") from None
    if isinstance(doc, dict):
        doc = doc.get("records", [doc])
    if not isinstance(doc, list) or not doc:
        raise InputError(f"{path}: expected a list of damo records")
    pb = opts.page_bytes
    targets = []
    for ri, rec in enumerate(doc):
        where = f"{path}: records[{ri}]"
        if not isinstance(rec, dict) or not isinstance(rec.get("snapshots"), list):
            raise InputError(f"{where}: expected a record with a list of snapshots")
        intervals = rec.get("intervals") if isinstance(rec.get("intervals"), dict) else None
        snaps = []
        prev_end = None
        for si, snap in enumerate(rec["snapshots"]):
            sw = f"{where}.snapshots[{si}]"
            if not isinstance(snap, dict) or not isinstance(snap.get("regions"), list):
                raise InputError(f"{sw}: expected a snapshot with a list of regions")
            end = _num(snap.get("end_time"), f"{sw}.end_time")
            if snap.get("start_time") is not None:
                start = _num(snap["start_time"], f"{sw}.start_time")
            elif prev_end is not None:
                start = prev_end
            elif intervals and intervals.get("aggr") is not None:
                start = end - 1000 * _num(intervals["aggr"], f"{where}.intervals.aggr")
            else:
                raise InputError(f"{sw}: expected a start_time")
            if end < start:
                raise InputError(f"{sw}: end_time before start_time")
            prev_end = end
            regs = []
            for gi, reg in enumerate(snap["regions"]):
                gw = f"{sw}.regions[{gi}]"
                if not isinstance(reg, dict):
                    raise InputError(f"{gw}: expected a region mapping")
                s = _num(reg.get("start"), f"{gw}.start")
                e = _num(reg.get("end"), f"{gw}.end")
                c = _samples(reg, intervals, gw)
                if s < 0 or e < s or c < 0:
                    raise InputError(f"{gw}: expected 0 <= start <= end and nr_accesses >= 0")
                if c > 0 and e > s:
                    regs.append((s // pb, -(-e // pb), c))
            snaps.append((start, end, regs))
        tid = rec.get("target_id")
        pid = tid if isinstance(tid, int) and not isinstance(tid, bool) else ri
        targets.append((pid, snaps))
    return targets


def read_damon(path: str, opts: ReaderOptions) -> tuple[list[SparseProcess], int, dict]:
    targets = _parse(path, opts)
    starts = [s[0] for _, snaps in targets for s in snaps]
    if not starts:
        raise InputError(f"{path}: no snapshots")
    t0 = min(starts)
    W = opts.window_ms * 1_000_000
    n_windows = max(max(1, -(-(s[1] - t0) // W)) for _, snaps in targets for s in snaps)
    procs = []
    n_snap = n_reg = 0
    seen = set()
    for pid, snaps in targets:
        while pid in seen:
            pid += 1
        seen.add(pid)
        lo = [r[0] for s in snaps for r in s[2]]
        if not lo:
            continue
        hi = [r[1] for s in snaps for r in s[2]]
        # Union of the accessed regions' page ranges -> compact columns.
        order = np.argsort(lo, kind="stable")
        lo_s = np.asarray(lo, dtype=np.int64)[order]
        hi_s = np.asarray(hi, dtype=np.int64)[order]
        run_hi = np.maximum.accumulate(hi_s)
        new = np.concatenate(([True], lo_s[1:] > run_hi[:-1]))
        iv_lo = lo_s[new]
        iv_hi = np.maximum.reduceat(hi_s, np.flatnonzero(new))
        iv_off = np.concatenate(([0], np.cumsum(iv_hi - iv_lo)))
        n_pages = int(iv_off[-1])
        if n_windows * n_pages > MAX_CELLS:
            raise InputError(f"{path}: {n_windows} windows x {n_pages} pages is too large for "
                             "the model; use a larger window_ms")
        diff = np.zeros((n_windows, n_pages + 1), dtype=np.int64)
        for start, end, regs in snaps:
            n_snap += 1
            if not regs:
                continue
            n_reg += len(regs)
            r = np.asarray(regs, dtype=np.int64)
            j = np.searchsorted(iv_lo, r[:, 0], side="right") - 1
            c_lo = iv_off[j] + (r[:, 0] - iv_lo[j])
            c_hi = c_lo + (r[:, 1] - r[:, 0])
            w0 = (start - t0) // W
            w1 = max(w0, (end - 1 - t0) // W)
            for w in range(w0, w1 + 1):
                if w0 == w1:
                    part = r[:, 2]
                else:  # split in proportion to the overlap, exact in integers
                    a = max(start, t0 + w * W) - start
                    b = min(end, t0 + (w + 1) * W) - start
                    part = r[:, 2] * b // (end - start) - r[:, 2] * a // (end - start)
                np.add.at(diff[w], c_lo, part)
                np.add.at(diff[w], c_hi, -part)
        dense = np.cumsum(diff[:, :-1], axis=1)
        del diff
        pages = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in
                                zip(iv_lo, iv_hi, strict=True)]).astype(np.uint64)
        w, col = np.nonzero(dense)
        procs.append(SparseProcess(int(pid), w.astype(np.int64), pages[col],
                                   dense[w, col].astype(np.int64)))
    accesses = int(sum(int(p.count.sum()) for p in procs))
    stats = dict(records=len(targets), snapshots=n_snap, regions=n_reg, accesses=accesses,
                 duration_s=(max(s[1] for _, sn in targets for s in sn) - t0) / 1e9)
    return procs, n_windows, stats
