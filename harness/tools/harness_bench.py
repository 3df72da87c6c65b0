"""Harness benchmark: evaluations per second, overhead per evaluation, 1 -> N CPU speedup.

For each target simulation length (default 0.2 s and 1 s) the simulated
duration of the model benchmark's zipf config at 1 GiB is fitted in-process so
that one simulation takes about that long; then the same list of evaluations (one
seed each, so nothing is cached) runs through ``run_evaluations`` on a fresh
local Ray instance with 1 CPU and with N CPUs, writing parquet parts as a
real sweep does, once per backend (Ray tasks, and one Ray actor per CPU
slot). Figures per run:

* evaluations/s = evaluations / wall time;
* overhead per evaluation = (wall time x CPUs - sum of the simulate() calls'
  wall times, measured in the workers) / evaluations: CPU-slot time not spent
  simulating (scheduling, serialization, result handling and parquet writes
  when they compete for a core, idle slots at the end);
* speedup = wall time on 1 CPU / wall time on N CPUs (includes any slow-down
  of the simulations themselves when they share the machine).

A warm-up round (one evaluation per CPU) starts the worker processes first;
Ray's own start-up time is printed separately.
"""

from __future__ import annotations

import tempfile
import time

from harness.config import RunConfig
from harness.model import simulate
from harness.run.backends import KINDS
from harness.run.runner import Evaluation, run_evaluations
from harness.tools.bench import bench_config


def sim_config(duration_s: float, seed: int = 1) -> RunConfig:
    """The model benchmark's config at 1 GiB; few samples (the harness is measured)."""
    return bench_config(1.0, duration_s, "zipf", seed=seed, sample_ms=5000)


def duration_for(target_s: float, rounds: int = 3) -> tuple[float, float]:
    """Simulated duration whose simulation takes about target_s; and the measured time."""
    duration = 20.0
    wall = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        simulate(sim_config(duration))
        wall = time.perf_counter() - t0
        duration = max(1.0, round(duration * target_s / wall, 1))
    t0 = time.perf_counter()
    simulate(sim_config(duration))
    wall = time.perf_counter() - t0
    return duration, wall


def _evals(duration: float, n: int, tag: str, first_seed: int = 1000) -> list[Evaluation]:
    return [Evaluation(eval_id=f"bench/{tag}/{i}", cfg=sim_config(duration, first_seed + i),
                       run="bench-harness", mode="compare", label=tag, workload="zipf",
                       seed=first_seed + i) for i in range(n)]


def measure(duration: float, n: int, cpus: int, out_dir: str, kind: str = "ray") -> dict:
    t0 = time.perf_counter()
    backend = KINDS[kind](cpus=cpus)
    startup = time.perf_counter() - t0
    try:
        run_evaluations(_evals(duration, cpus, f"warmup-{cpus}", 1), out_dir, backend,
                        progress=False)
        evals = _evals(duration, n, f"d{duration:g}-c{cpus}")
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_evaluations(evals, out_dir, backend, progress=False)
        wall, driver_cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        backend.close()
    sim = float(res.table["eval_wall_s"].sum())
    return {"backend": kind, "cpus": cpus, "evals": n, "wall_s": wall, "evals_per_s": n / wall,
            "sim_s_per_eval": sim / n, "overhead_s_per_eval": (wall * cpus - sim) / n,
            "overhead_pct": 100 * (wall * cpus - sim) / sim, "ray_startup_s": startup,
            "driver_cpu_s_per_eval": driver_cpu / n}


def run(targets: list[float], cpus_list: list[int], evals: dict[float, int] | None = None,
        echo=print, backends: tuple[str, ...] = ("ray", "ray-actors")) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="tiersweep-bench-") as tmp:
        for target in targets:
            duration, wall = duration_for(target)
            n = (evals or {}).get(target) or max(16, int(round(12.0 / target)))
            n = max(n, 4 * max(cpus_list))
            echo(f"{target:g} s simulations: zipf 1 GiB, {duration:g} simulated s = {wall:.3f} s "
                 f"in-process; {n} evaluations per run")
            base: dict[str, dict] = {}
            # Backends alternate within each CPU count, so both see the same machine load.
            for c in cpus_list:
                for kind in backends:
                    r = measure(duration, n, c, f"{tmp}/d{target:g}-c{c}-{kind}", kind)
                    r["target_s"] = target
                    base.setdefault(kind, r)
                    r["speedup"] = base[kind]["wall_s"] / r["wall_s"]
                    rows.append(r)
                    echo(f"  {kind:10s} {c} CPU{'s' if c > 1 else ' '}: {r['wall_s']:6.2f} s wall, "
                         f"{r['evals_per_s']:6.2f} evaluations/s, simulation "
                         f"{r['sim_s_per_eval']:.3f} s/eval, overhead "
                         f"{1000 * r['overhead_s_per_eval']:6.1f} ms/eval "
                         f"({r['overhead_pct']:4.1f} %), speedup vs {cpus_list[0]} CPU "
                         f"{r['speedup']:.2f}x  (driver CPU {1000 * r['driver_cpu_s_per_eval']:.1f} "
                         f"ms/eval; Ray start {r['ray_startup_s']:.1f} s)")
    return rows
