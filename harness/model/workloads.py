"""Workload generators: processes (mm), their VMAs and per-page access rates.

Each workload entry of a config becomes one ``Segment``: a contiguous range of
global page indices holding one or more processes, an accessed-bit model, and
a phase schedule (times at which its rates change). Rates are generated
lazily per phase from a stream seeded by (seed, entry, process, phase), so a
phase's rates do not depend on which phases were generated before.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config import GIB, MIB, RunConfig, WorkloadConfig
from harness.errors import ConfigError, InputError
from harness.model.access import CountsAccess, RateAccess
from harness.model.draws import Stream
from harness.model.kernels.shuffle import scatter_shuffled
from harness.model.layouts import LAYOUT_KINDS, make_generator
from harness.traces.scaling import ScaledTrace, run_length

US = 1_000_000


@dataclass
class MMSpec:
    """One process (mm): its global page range, VMAs and lifetime."""

    index: int
    segment: int
    lo: int
    hi: int
    vma_bounds: np.ndarray  # global page index of each VMA start, plus hi at the end
    start_us: int
    exit_us: int | None
    placement: str
    split_fast_share: float


class Segment:
    """The pages of one workload entry and the schedule of their access rates."""

    def __init__(self, index: int, w: WorkloadConfig, lo: int, sizes: list[int],
                 seed: int, duration_us: int, counts: list[np.ndarray] | None,
                 window_us: int, run: int = 0, page_bytes: int = 4096):
        self.index = index
        self.w = w
        self.lo = lo
        self.sizes = sizes
        self.n = sum(sizes)
        self.hi = lo + self.n
        self.seed = seed
        self.proc_lo = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.start_us = int(round(w.start_s * US))
        self.exit_us = None if w.exit_s is None else int(round(w.exit_s * US))
        end = duration_us if self.exit_us is None else min(self.exit_us, duration_us)
        # Rate-form generators per process: a layout kind, or a scaled trace.
        self.gens: list | None = None
        if counts is not None and run:
            self.gens = [ScaledTrace(c, run, window_us) for c in counts]
        elif w.kind in LAYOUT_KINDS:
            self.gens = [make_generator(w, n, seed, index, p, page_bytes)
                         for p, n in enumerate(sizes)]
        if self.gens is not None:
            self.window_us = 0
            self.access = RateAccess(self.n, Stream([seed, index, 0xACCE55]))
            step = self.gens[0].step_us
        elif counts is not None:
            self.window_us = window_us
            windows = np.concatenate(counts, axis=1) if len(counts) > 1 else counts[0]
            self.access = CountsAccess(self.n, window_us, windows)
            step = window_us
        else:
            self.window_us = 0
            self.access = RateAccess(self.n, Stream([seed, index, 0xACCE55]))
            step = int(round(w.move_every_s * US)) if w.kind in ("hotset", "sequential") else 0
        times = [self.start_us] if self.start_us < duration_us else []
        if step and times:
            times += list(range(self.start_us + step, end, step))
        self.phase_times = [t for t in times if t < end]
        if self.exit_us is not None and self.exit_us < duration_us:
            self.phase_times.append(self.exit_us)

    def enter_phase(self, k: int, t: int) -> np.ndarray:
        """Switch the access model to phase k (starting at t); return rates per page."""
        exited = self.exit_us is not None and t >= self.exit_us
        if isinstance(self.access, CountsAccess):
            self.access.set_window(t, -1 if exited else k)
            return self.access.rate
        rates = np.zeros(self.n) if exited else self._rates(k)
        self.access.set_rates(t, rates)
        return rates

    def _rates(self, k: int) -> np.ndarray:
        if len(self.sizes) == 1:
            return self._process_rates(0, self.sizes[0], k)
        out = np.empty(self.n)
        for p, n in enumerate(self.sizes):
            a, b = self.proc_lo[p], self.proc_lo[p + 1]
            out[a:b] = self._process_rates(p, n, k)
        return out

    def _process_rates(self, p: int, n: int, k: int) -> np.ndarray:
        w = self.w
        total = w.access_rate
        if self.gens is not None:
            return self.gens[p].rates(k)
        if w.kind in ("uniform", "split"):
            return np.full(n, total / n)
        if w.kind == "zipf":  # one phase: nothing to cache
            entropy = [self.seed, self.index, p, 0x21BF]
            ranks = np.arange(1, n + 1, dtype=np.float64)
            # In place: one array of n fewer to allocate and fault in.
            weights = (np.divide(1.0, ranks, out=ranks) if w.zipf_s == 1.0
                       else np.power(ranks, -w.zipf_s, out=ranks))
            weights *= total / weights.sum()
            if n < 2**31:  # int32 page indices: compiled, in place, as numpy shuffles them
                scatter_shuffled(Stream(entropy).state, weights)
                return weights
            # rng.permutation(n)'s permutation (its swaps do not depend on the dtype).
            perm = np.arange(n, dtype=np.int64)
            np.random.default_rng(entropy).shuffle(perm)
            r = np.empty(n)
            r[perm] = weights
            return r
        if w.kind == "hotset":
            h = max(1, min(n, math.ceil(w.hot_fraction * n)))
            rng = np.random.default_rng([self.seed, self.index, p, k, 0x407])
            cold = (total * (1 - w.hot_share) / (n - h)) if n > h else 0.0
            r = np.full(n, cold)
            hot_share = w.hot_share if n > h else 1.0
            r[rng.choice(n, size=h, replace=False)] = total * hot_share / h
            return r
        if w.kind == "sequential":
            h = max(1, min(n, math.ceil(w.window_fraction * n)))
            r = np.zeros(n)
            start = (k * h) % n
            idx = (start + np.arange(h)) % n
            r[idx] = total / h
            return r
        raise AssertionError(w.kind)  # pragma: no cover


@dataclass
class Layout:
    n_pages: int
    page_bytes: int
    mms: list[MMSpec]
    segments: list[Segment]


def _load_counts(w: WorkloadConfig, where: str) -> list[np.ndarray]:
    if isinstance(w.counts, list | tuple) and w.counts and isinstance(w.counts[0], np.ndarray) \
            and w.counts[0].ndim == 2:
        # Per-process arrays handed over in memory (a trace converted by the
        # sweep driver and shared through Ray's object store).
        return [np.asarray(a) for a in w.counts]
    if w.counts is not None:
        arr = np.asarray(w.counts, dtype=np.int64)
    else:
        path = Path(w.path)
        if path.suffix != ".npy":
            raise ConfigError(f"{where}.path: {path}: expected a .npy file of counts")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read counts array: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{where}.counts: expected a 2-D integer array (windows x pages)")
    if (arr < 0).any():
        raise ConfigError(f"{where}.counts: expected counts >= 0")
    arr = arr.astype(np.int64)
    if w.processes > 1:
        return [a for a in np.array_split(arr, w.processes, axis=1) if a.shape[1]]
    return [arr]


def _load_trace(w: WorkloadConfig, page_bytes: int, where: str) -> tuple[list[np.ndarray], int]:
    try:
        from harness.traces import load_trace_counts
    except ImportError as exc:  # pragma: no cover - traces package ships with harness
        raise ConfigError(f"{where}.kind: trace workloads need harness.traces ({exc})") from None
    trace = load_trace_counts(w, page_bytes)
    return list(trace.per_process), int(trace.window_ms)


# The model's memory per page of footprint at its peak (the setup: rates,
# next-access times, last move times, node and flag bytes, and the zipf
# ranks, weights and permutation while they are drawn), measured at 64 GiB.
MODEL_BYTES_PER_PAGE = 64


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(cfg: RunConfig) -> None:
    """Refuse, before allocating, a footprint whose model would not fit in this
    machine's memory (the estimate and the field in the message)."""
    sizes = [(i, int(w.size_gb * GIB // cfg.platform.page_bytes))
             for i, w in enumerate(cfg.workloads) if w.kind not in ("counts", "trace")]
    pages = sum(n for _, n in sizes)
    need = pages * MODEL_BYTES_PER_PAGE
    have = physical_memory_bytes()
    if need > have:
        i = max(sizes, key=lambda x: x[1])[0]
        raise ConfigError(
            f"{cfg.name}: workloads[{i}].size_gb: a footprint of "
            f"{pages * cfg.platform.page_bytes / GIB:g} GiB needs about "
            f"{need / GIB:.3g} GiB for the model ({MODEL_BYTES_PER_PAGE} bytes a page), "
            f"more than this machine's {have / GIB:.3g} GiB")


def build_layout(cfg: RunConfig) -> Layout:
    check_fits(cfg)
    page_bytes = cfg.platform.page_bytes
    duration_us = int(round(cfg.duration_s * US))
    mms: list[MMSpec] = []
    segments: list[Segment] = []
    lo = 0
    for i, w in enumerate(cfg.workloads):
        where = f"workloads[{i}]"
        counts = None
        window_us = 0
        run = 0
        if w.kind == "counts":
            counts = _load_counts(w, where)
            window_us = w.window_ms * 1000
        elif w.kind == "trace":
            counts, window_ms = _load_trace(w, page_bytes, where)
            window_us = window_ms * 1000
            if w.scale_to_gb is not None:
                run = run_length(sum(a.shape[1] for a in counts), page_bytes, w.scale_to_gb)
        if counts is not None:
            sizes = [a.shape[1] * max(run, 1) for a in counts]
        else:
            total = int(w.size_gb * GIB // page_bytes)
            per = total // w.processes
            if per < 1:
                raise ConfigError(f"{where}.size_gb: too small for {w.processes} processes")
            sizes = [per] * w.processes
        seg = Segment(i, w, lo, sizes, cfg.seed + w.seed_offset, duration_us, counts, window_us,
                      run, page_bytes)
        vma_pages = (w.vma_mb * MIB) // page_bytes if w.vma_mb else 0
        for p, n in enumerate(sizes):
            plo = lo + int(seg.proc_lo[p])
            step = vma_pages if vma_pages else n
            bounds = np.append(np.arange(plo, plo + n, step, dtype=np.int64), plo + n)
            mms.append(MMSpec(len(mms), i, plo, plo + n, bounds, seg.start_us, seg.exit_us,
                              w.placement, w.split_fast_share))
        segments.append(seg)
        lo += seg.n
    return Layout(lo, page_bytes, mms, segments)


def footprint_pages(cfg: RunConfig) -> int:
    """Pages the workloads of cfg lay out, without building them (a trace's
    page count comes from its cached conversion)."""
    page_bytes = cfg.platform.page_bytes
    total = 0
    for i, w in enumerate(cfg.workloads):
        if w.kind == "counts":
            total += sum(a.shape[1] for a in _load_counts(w, f"workloads[{i}]"))
        elif w.kind == "trace":
            counts, _ = _load_trace(w, page_bytes, f"workloads[{i}]")
            pages = sum(a.shape[1] for a in counts)
            k = run_length(pages, page_bytes, w.scale_to_gb) if w.scale_to_gb else 1
            total += pages * k
        else:
            total += int(w.size_gb * GIB // page_bytes) // w.processes * w.processes
    return total


def fast_pages(cfg: RunConfig, footprint: int) -> int:
    """The fast tier's pages for a footprint (Memory's capacity rule)."""
    plat = cfg.platform
    if plat.fast_share_of_footprint is not None:
        return int(math.ceil(plat.fast_share_of_footprint * footprint))
    return sum(int(d.capacity_gb * GIB) // plat.page_bytes for d in plat.nodes if d.tier == "fast")
