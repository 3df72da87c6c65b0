"""What a study of a suite costs (`tiersweep bench-study --suite`): each
workload's evaluation timed once at the base config (the RFC defaults), in
this process, after a warm-up (each workload for one simulated second) that
compiles the kernels and reads the traces, as a long-lived worker has them.

Figures: CPU seconds per evaluation (process time; the model is one thread),
evaluations per CPU-hour (3600 / the suite's mean), and trials per CPU-hour,
where a trial evaluates every workload with every study seed. A cluster of N
CPUs runs about N times that, less the harness's overhead (`bench-harness`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from harness.experiment import load_experiment
from harness.model import simulate


def measure(path: str | Path, echo=print) -> list[dict]:
    exp = load_experiment(path)
    seed = exp.seeds[0]
    for w in exp.workloads:
        warm = exp.run_config(w, seed)
        simulate(dataclasses.replace(warm, duration_s=min(warm.duration_s, 1.0)))
    rows = []
    for w in exp.workloads:
        cfg = exp.run_config(w, seed)
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(cfg)
        rows.append({"workload": w, "cpu_s": time.process_time() - c0,
                     "wall_s": time.perf_counter() - t0})
        echo(f"  {w:24s} {rows[-1]['cpu_s']:7.2f} CPU s  ({rows[-1]['wall_s']:.2f} s wall)")
    total = sum(r["cpu_s"] for r in rows)
    per_trial = total * len(exp.seeds)
    echo(f"  mean {total / len(rows):.2f} CPU s per evaluation: "
         f"{3600 * len(rows) / total:.0f} evaluations per CPU-hour; a trial "
         f"({len(rows)} workloads x {len(exp.seeds)} seeds) {per_trial:.1f} CPU s: "
         f"{3600 / per_trial:.1f} trials per CPU-hour")
    return rows
