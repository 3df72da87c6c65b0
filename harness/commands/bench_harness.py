"""`tiersweep bench-harness`: evaluations/s, overhead per evaluation, 1 -> N CPU speedup."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench-harness",
                       help="benchmark the sweep/tune harness on local Ray (not the model)")
    p.add_argument("--sim", default="0.2,1", metavar="S,S",
                   help="target seconds per simulation (default 0.2,1)")
    p.add_argument("--cpus", default="1,2", metavar="N,N",
                   help="CPU counts to compare; the first is the speedup baseline (1,2)")
    p.add_argument("--backends", default="ray,ray-actors", metavar="B,B",
                   help="backends to compare, run alternately (default ray,ray-actors)")
    p.add_argument("--evals", type=int, default=None,
                   help="evaluations per run (default: about 12 s of simulation, >= 16)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.errors import InputError
    from harness.tools import harness_bench as harness_bench

    try:
        targets = [float(x) for x in args.sim.split(",") if x]
        cpus = [int(x) for x in args.cpus.split(",") if x]
        backends = tuple(x for x in args.backends.split(",") if x)
    except ValueError:
        raise InputError("--sim/--cpus: expected comma-separated numbers") from None
    if not targets or not cpus or min(cpus) < 1 or min(targets) <= 0:
        raise InputError("--sim/--cpus: expected positive numbers")
    if not backends or set(backends) - {"ray", "ray-actors"}:
        raise InputError(f"--backends: expected ray and/or ray-actors, not {args.backends!r}")
    evals = {t: args.evals for t in targets} if args.evals else None
    harness_bench.run(targets, cpus, evals, echo=lambda s: print(s, flush=True),
                      backends=backends)
    return 0
