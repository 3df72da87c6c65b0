"""Benchmark figures: model throughput, memory, and speed against the reference."""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import numpy as np

from harness.config import RunConfig, from_dict
from harness.model import build_layout, simulate
from harness.model.kernels import warm_up


def bench_config(size_gb: float, duration_s: float, kind: str = "zipf", *, seed: int = 1,
                 sample_ms: int = 1000, **policy) -> RunConfig:
    """The benchmark's config (model and harness benchmarks): RFC V1 default knobs;
    fast tier a quarter of the footprint, all first on slow."""
    return from_dict({
        "name": f"bench-{kind}-{size_gb:g}g",
        "seed": seed,
        "duration_s": duration_s,
        "sample_ms": sample_ms,
        "platform": {"nodes": [
            {"id": 0, "tier": "fast", "capacity_gb": size_gb / 4},
            {"id": 1, "tier": "slow", "capacity_gb": size_gb * 1.25}]},
        "workload": {"kind": kind, "size_gb": size_gb, "placement": "slow"},
        "policy": {"kind": "kmmscand", "version": "v1", **policy},
    })


def one_case(size_gb: float, duration_s: float, kind: str) -> dict:
    """One case, then the same-run floor: the scan step alone over its PTE visits."""
    cfg = bench_config(size_gb, duration_s, kind)
    load_s = warm_up()  # numba's cache, or a compile on a cold cache
    t0 = time.perf_counter()
    m = simulate(cfg).metrics
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ns_per_pte = scan_floor_ns_per_pte(cfg)
    floor_s = ns_per_pte * m["ptes_scanned"] / 1e9
    work = per_page_work(cfg, m)
    elements = m["ptes_scanned"] + sum(work.values())
    work_floor_s = ns_per_pte * elements / 1e9  # every element at the floor's cost per PTE
    return dict(size_gb=size_gb, duration_s=duration_s, kind=kind, wall_s=wall,
                sim_s_per_wall_s=duration_s / wall, ptes_scanned=m["ptes_scanned"],
                ptes_per_s=m["ptes_scanned"] / wall, peak_mib=peak_mib,
                promotions=m["promotions"], demotions=m["demotions"], hit_rate=m["hit_rate"],
                floor_ns_per_pte=ns_per_pte, floor_s=floor_s, floor_ratio=wall / floor_s,
                kernels_load_s=load_s, work=work, elements=elements,
                # What 4x the floor leaves for each PTE visit and each element of work.
                ns_per_element_at_4x=4 * floor_s * 1e9 / elements,
                work_floor_s=work_floor_s, work_floor_ratio=wall / work_floor_s)


def per_page_work(cfg: RunConfig, m: dict) -> dict[str, int]:
    """The case's per-page work besides its PTE visits, from its counters: each
    element reads or writes per-page state, as a PTE visit of the floor does.
    kswapd's examined pages (pgscan_kswapd) come from its CPU time: each page
    it scans costs kswapd_scan_ns, each demotion a page move more; the A bits
    its CLOCK found set (kswapd_accessed) were each redrawn, as the scan's."""
    c = cfg.costs
    examined = (m["kswapd_cpu_s"] * 1e9 - m["demotions"] * c.page_move_ns) / c.kswapd_scan_ns
    return {
        "A bits the scan found set, each a redrawn next access": m["slowtier"] + m["toptier"],
        "entries queued on the migration list": m["migadded"],
        "entries the migration thread processed": m["promotions"] + m["promote_failed"],
        "pages kswapd's CLOCK examined": round(examined),
        "A bits kswapd's CLOCK found set, each a redrawn next access": m["kswapd_accessed"],
        "pages moved": m["promotions"] + m["demotions"],
    }


def scan_floor_ns_per_pte(cfg: RunConfig, repeat: int = 3,
                          clock: Callable[[], float] = time.perf_counter) -> float:
    """The least a numpy scan step does per PTE, timed here (best of `repeat`
    passes over the footprint, one VMA at a time) on `clock` (wall, or
    thread CPU time): compare each page's next-access time with now, mask
    the slow tier, list the hits."""
    layout = build_layout(cfg)
    n = layout.n_pages
    rng = np.random.default_rng(0)
    next_access = rng.random(n)
    node = (rng.random(n) < 0.75).astype(np.int8)  # a quarter on the fast node 0
    bounds = layout.mms[0].vma_bounds
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            np.flatnonzero((next_access[lo:hi] <= 0.5) & (node[lo:hi] != 0))
        best = min(best, clock() - t0)
    return best / n * 1e9


def kernels_compile_s() -> float:
    """numba's compile time of the model's kernels, on an empty cache (a fresh
    process with its own cache directory, as a fresh clone's first run)."""
    code = "from harness.model.kernels import warm_up; print(warm_up())"
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "NUMBA_CACHE_DIR": cache})
    return float(out.stdout.strip().splitlines()[-1])


def reference_ratio(size_gb: float = 1.0, duration_s: float = 10.0) -> dict:
    """The same small case through both implementations: equal counters, speed ratio
    (the vectorized time is the best of three warm runs)."""
    cfg = bench_config(size_gb, duration_s, "zipf")
    simulate(cfg)
    t_vec = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        vec = simulate(cfg).metrics
        t_vec = min(t_vec, time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = simulate(cfg, reference=True).metrics
    t_ref = time.perf_counter() - t0
    keys = [k for k, v in vec.items() if isinstance(v, int)]
    same = all(vec[k] == ref[k] for k in keys)
    return dict(pages=vec["pages"], duration_s=duration_s, vectorized_s=t_vec,
                reference_s=t_ref, speedup=t_ref / t_vec, counters_equal=same,
                ptes_scanned=vec["ptes_scanned"])


# Where a run's time goes (--breakdown): each part is what the model calls
# there, found as (module, attribute) and wrapped with a timer for one run.
PARTS = {
    "kswapd's chunks: CLOCK walk and demotions (kernels.kswapd_chunk)":
        [("harness.model.kswapd", "kswapd_chunk")],
    "the scanner's PTE walk (kernels.scan_ptes)":
        [("harness.model.policies._kmmscand.scanner", "scan_ptes")],
    "the migration thread's walk and promotions (kernels.migrate_entries)":
        [("harness.model.policies._kmmscand.migrator", "migrate_entries")],
    "setup: each phase's rates and draws, the placement":
        [("harness.model.engine", "Sim._enter_phase"), ("harness.model.engine", "Sim._mm_start")],
    # Before the first event: the layout and the per-page arrays, allocated
    # and first touched (at 64 GiB, page faults of about a GiB of state).
    "setup: the run's state built (Sim.__init__: layout, per-page arrays)":
        [("harness.model.engine", "Sim.__init__")],
    "the list's entries copied onto it (EntryQueue.push: new memory faulting in)":
        [("harness.model.policies._kmmscand.queue", "EntryQueue.push")],
}
# The parts that are compiled kernels; the others and the rest are outside them.
KERNEL_PARTS = tuple(list(PARTS)[:3])


def part_target(module: str, attr: str) -> tuple[object, str]:
    """The object holding a part's callable and its name (attr may go
    through a class of the module: "Sim._enter_phase")."""
    owner = importlib.import_module(module)
    *outer, name = attr.split(".")
    for a in outer:
        owner = getattr(owner, a)
    return owner, name


def _wrap(fn, part: str, spent: dict, cpu: dict, calls: dict):
    """fn with timers adding to spent[part] (wall), cpu[part] (the thread's
    CPU time) and calls[part]."""
    def timed(*a, **kw):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            spent[part] += time.perf_counter() - t0
            cpu[part] += time.thread_time() - c0
            calls[part] += 1
    return timed


@contextmanager
def _timed(spent: dict[str, float], cpu: dict[str, float] | None = None,
           calls: dict[str, int] | None = None):
    """Wrap each part's callables with timers adding to spent[part] (wall)
    and cpu[part] (the thread's CPU time: what a busy machine's other
    processes do not add to), counting calls[part]; restored after."""
    saved = []
    cpu = {} if cpu is None else cpu
    calls = {} if calls is None else calls
    for part, targets in PARTS.items():
        spent[part] = cpu[part] = 0.0
        calls[part] = 0
        for module, attr in targets:
            owner, name = part_target(module, attr)
            fn = getattr(owner, name)
            saved.append((owner, name, fn))
            setattr(owner, name, _wrap(fn, part, spent, cpu, calls))
    try:
        yield spent
    finally:
        for owner, name, fn in reversed(saved):
            setattr(owner, name, fn)


def _noop() -> None:
    return None


def timer_cost(n: int = 200_000, repeat: int = 3) -> dict[str, tuple[float, float]]:
    """What one timed call costs the run itself, measured on a no-op wrapped
    as the parts are, per clock: (all of it, the share inside the timed
    window, which the part's own time absorbs), in seconds a call; the best
    of `repeat` (noise only adds)."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeat):
        spent, cpu, calls = {"x": 0.0}, {"x": 0.0}, {"x": 0}
        wrapped = _wrap(_noop, "x", spent, cpu, calls)
        got = {}
        for key, clock, inside in (("wall", time.perf_counter, spent),
                                   ("cpu", time.thread_time, cpu)):
            inside["x"] = 0.0
            t0 = clock()
            for _ in range(n):
                _noop()
            plain = clock() - t0
            t0 = clock()
            for _ in range(n):
                wrapped()
            timed = clock() - t0
            got[key] = (max(timed - plain, 0.0) / n, max(inside["x"] - plain, 0.0) / n)
        for key, (whole, inside_s) in got.items():
            if key not in best or whole < best[key][0]:
                best[key] = (whole, min(inside_s, whole))
    return best


# The elements of work (per_page_work's, and the PTE visits) each timed
# kernel touches, for its ns per element against the floor's ns per PTE.
PART_ELEMENTS = {
    "kswapd's chunks: CLOCK walk and demotions (kernels.kswapd_chunk)":
        ("pages kswapd's CLOCK examined",
         "A bits kswapd's CLOCK found set, each a redrawn next access", "demotions"),
    "the scanner's PTE walk (kernels.scan_ptes)":
        ("ptes_scanned", "A bits the scan found set, each a redrawn next access"),
    "the migration thread's walk and promotions (kernels.migrate_entries)":
        ("entries the migration thread processed", "promotions"),
}
REST = "the rest: Python around them (thread chunks, events)"
# The parts that are setup, once a run or once a phase: outside the Python share.
SETUP_PARTS = tuple(p for p in PARTS if p.startswith("setup:"))


def breakdown(size_gb: float, duration_s: float, kind: str) -> dict:
    """One case with its parts timed (PARTS), in wall and CPU time; the rest
    is Python around them. Each kernel's ns per element of work it touches
    (PART_ELEMENTS), the run's all-work ratio and the Python share (time
    outside the compiled kernels and the setup), against the scan floor
    timed in the same process (on the same clock)."""
    cfg = bench_config(size_gb, duration_s, kind)
    warm_up()
    spent, cpu, calls = {}, {}, {}
    with _timed(spent, cpu, calls):
        t0, c0 = time.perf_counter(), time.thread_time()
        m = simulate(cfg).metrics
        wall, cpu_s = time.perf_counter() - t0, time.thread_time() - c0
    cost = timer_cost()
    n_calls = sum(calls.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    page_work = per_page_work(cfg, m)
    work = {**page_work, "ptes_scanned": m["ptes_scanned"],
            "demotions": m["demotions"], "promotions": m["promotions"]}
    elements = m["ptes_scanned"] + sum(page_work.values())
    out = dict(size_gb=size_gb, duration_s=duration_s, kind=kind, wall_s=wall, cpu_s=cpu_s,
               elements=elements, peak_mib=peak_mib)
    for key, measured, timed, clock in (("wall", wall, spent, time.perf_counter),
                                        ("cpu", cpu_s, cpu, time.thread_time)):
        floor = scan_floor_ns_per_pte(cfg, clock=clock)
        # The timers' own cost out of the figures: the share inside each
        # timed window out of its part, the rest out of the Python around.
        whole, inside = cost[key]
        total = measured - n_calls * whole
        parts = {p: max(s - calls[p] * inside, 0.0) for p, s in timed.items()}
        rest = total - sum(parts.values())
        outside = total - sum(parts[k] for k in (*KERNEL_PARTS, *SETUP_PARTS))
        raw_outside = measured - sum(timed[k] for k in (*KERNEL_PARTS, *SETUP_PARTS))
        out[key] = dict(
            parts={**parts, REST: rest}, floor_ns_per_pte=floor, total_s=total,
            timer_s=n_calls * whole, timer_us_per_call=whole * 1e6, timed_calls=n_calls,
            python_share_with_timers=raw_outside / measured,
            work_floor_ratio=total / (floor * elements / 1e9),
            ns_per_element={part: parts[part] * 1e9 / max(sum(work[k] for k in keys), 1)
                            for part, keys in PART_ELEMENTS.items()},
            python_share=outside / total)
    return out


def breakdown_alone(size_gb: float, duration_s: float, kind: str) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(breakdown, size_gb, duration_s, kind).result()


def echo_breakdown(r: dict, echo: Callable[[str], None] = print) -> None:
    """Print one breakdown: per part its wall and CPU seconds and share, each
    kernel's ns per element against the floor (CPU time: what other
    processes on the machine add to least), the all-work ratio and the
    Python share on both clocks."""
    w, c = r["wall"], r["cpu"]
    echo(f"where {r['kind']} {r['size_gb']:g} GiB x {r['duration_s']:g} s goes "
         f"(with the timers: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, peak "
         f"{r['peak_mib']:.0f} MiB; {r['elements'] / 1e6:.0f} M elements of work; scan floor "
         f"{w['floor_ns_per_pte']:.2f} ns wall / {c['floor_ns_per_pte']:.2f} ns CPU each)")
    echo(f"  the timers' own cost, measured on a no-op: {w['timer_us_per_call']:.2f} us wall, "
         f"{c['timer_us_per_call']:.2f} us CPU a call x {w['timed_calls'] / 1e3:.0f} k calls = "
         f"{w['timer_s']:.2f} s wall, {c['timer_s']:.2f} s CPU, taken out of the figures below")
    echo(f"  all-work floor ratio {w['work_floor_ratio']:.1f}x wall, "
         f"{c['work_floor_ratio']:.1f}x CPU; Python share (outside kernels and setup) "
         f"{100 * w['python_share']:.0f}% wall, {100 * c['python_share']:.0f}% CPU "
         f"({100 * w['python_share_with_timers']:.0f}% and "
         f"{100 * c['python_share_with_timers']:.0f}% with the timers' cost)")
    for part in w["parts"]:
        ws, cs = w["parts"][part], c["parts"][part]
        per = c["ns_per_element"].get(part)
        tail = ("" if per is None else
                f"  [{per:.2f} ns/element CPU = {per / c['floor_ns_per_pte']:.1f}x floor]")
        echo(f"  {ws:6.2f} s {100 * ws / w['total_s']:3.0f}% wall  {cs:6.2f} s "
             f"{100 * cs / c['total_s']:3.0f}% CPU  {part}{tail}")


def one_case_alone(size_gb: float, duration_s: float, kind: str) -> dict:
    """`one_case` in a fresh process, so that peak memory is that case's alone."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(one_case, size_gb, duration_s, kind).result()


def run_all(sizes: list[float], duration_s: float, kind: str, reference: bool = True,
            echo: Callable[[str], None] = print, parts: bool = False) -> None:
    echo(f"numba kernels: {kernels_compile_s():.2f} s to compile on an empty cache")
    for size in sizes:
        r = one_case_alone(size, duration_s, kind)
        echo(f"{kind} {r['size_gb']:g} GiB, {r['duration_s']:g} s simulated: "
             f"{r['wall_s']:.1f} s wall, {r['sim_s_per_wall_s']:.1f} sim-s/wall-s, "
             f"{r['ptes_per_s'] / 1e6:.1f} M PTEs scanned/s, peak {r['peak_mib']:.0f} MiB; "
             f"{r['promotions'] / 1e6:.1f} M promotions, {r['demotions'] / 1e6:.1f} M demotions; "
             f"scan floor {r['floor_s']:.1f} s ({r['floor_ns_per_pte']:.2f} ns x "
             f"{r['ptes_scanned'] / 1e6:.0f} M PTEs) = {r['floor_ratio']:.1f}x floor; "
             f"kernels loaded from cache in {r['kernels_load_s']:.2f} s")
        work = ", ".join(f"{v / 1e6:.0f} M {k}" for k, v in r["work"].items())
        echo(f"  its per-page work besides the {r['ptes_scanned'] / 1e6:.0f} M PTE visits: "
             f"{work}; so 4x the floor leaves {r['ns_per_element_at_4x']:.2f} ns a PTE visit "
             f"or element of work (the floor's PTE visit: {r['floor_ns_per_pte']:.2f} ns); "
             f"all {r['elements'] / 1e6:.0f} M at the floor's cost: {r['work_floor_s']:.1f} s, "
             f"the run {r['work_floor_ratio']:.1f}x that")
    if reference:
        r = reference_ratio()
        echo(f"reference vs vectorized on {r['pages']} pages, {r['duration_s']:g} s: "
             f"{r['reference_s']:.2f} s vs {r['vectorized_s']:.3f} s = {r['speedup']:.0f}x, "
             f"counters equal: {r['counters_equal']}")
    if parts:
        for size in sizes:
            echo_breakdown(breakdown_alone(size, duration_s, kind), echo)
