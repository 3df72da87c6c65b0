"""`tiersweep bench-study`: Optuna storages' ask/tell throughput with one and two
drivers, and the workers one driver can keep busy; with --suite, what one
evaluation and one trial of that suite cost in CPU time."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench-study",
                       help="study drivers: ask/tell trials/s per storage, workers per driver")
    p.add_argument("--storage", action="append", default=[], metavar="URL",
                   help="a database URL to measure beside a journal file (repeatable), "
                        "e.g. postgresql://user@/db?host=/tmp")
    p.add_argument("--trials", type=int, default=200,
                   help="trials each driver asks and tells (default 200)")
    p.add_argument("--suite", default=None, metavar="CONFIG",
                   help="instead: time one evaluation of each workload of this experiment "
                        "file and print evaluations and trials per CPU-hour")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.errors import InputError
    from harness.tools import study_bench

    if args.suite:
        from harness.tools import suite_cost

        print(f"{args.suite}: one evaluation per workload at the base config:", flush=True)
        suite_cost.measure(args.suite, echo=lambda s: print(s, flush=True))
        return 0
    if args.trials < 1:
        raise InputError(f"--trials: expected at least 1, not {args.trials}")
    print("ask/tell throughput (TPE over the shipped suite's space):", flush=True)
    study_bench.run(args.storage, args.trials, echo=lambda s: print(s, flush=True))
    return 0
