"""`tiersweep bench`: speed and memory figures of the model, for the record."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench", help="print model speed and memory figures")
    p.add_argument("--sizes", default="16,64", help="workload sizes in GiB (default 16,64)")
    p.add_argument("--duration", type=float, default=600.0, help="simulated seconds (600)")
    p.add_argument("--kind", default="zipf", help="workload kind (zipf)")
    p.add_argument("--skip-reference", action="store_true",
                   help="skip the reference-versus-vectorized comparison")
    p.add_argument("--breakdown", action="store_true",
                   help="also time the model's parts in one more run of each size")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.tools import bench as bench

    sizes = [float(s) for s in args.sizes.split(",") if s]
    bench.run_all(sizes, args.duration, args.kind, reference=not args.skip_reference,
                  echo=lambda s: print(s, flush=True), parts=args.breakdown)
    return 0
