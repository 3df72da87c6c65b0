"""`tiersweep sweep CONFIG`: a grid / random sample of knobs x workload suite x seeds."""

from __future__ import annotations

from harness.commands._common import add_run_args, backend_from, command_line, flag_names, out_dir


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a sweep (grid or random sample) over a workload suite")
    add_run_args(p)
    p.add_argument("--top", type=int, default=10, help="points to print (10)")
    p.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from harness.experiment import load_experiment
    from harness.run.store.layout import MANIFEST, TIMESERIES, TRIALS
    from harness.search.sweep import run_sweep

    exp = load_experiment(args.config, args.overrides, override_source="--set")
    out = out_dir(args, exp.name)
    if args.dry_run:
        from harness.search.plan import plan_sweep

        print(plan_sweep(exp, out, args.cpus).text())
        return 0
    from harness.commands._common import check_backend_args
    from harness.run.store import RunLock, check_same_experiment

    check_backend_args(args)
    # The run directory's lock before Ray starts: a taken directory fails at once.
    with flag_names(), RunLock(out):
        check_same_experiment(out, "sweep", exp.fingerprint("sweep"), exp.describe())
        with backend_from(args) as backend:
            rep = run_sweep(exp, out, backend, progress=args.progress, command=command_line())
    o = rep.outcome
    print(f"sweep {exp.name}: {len(o.table)} evaluations ({o.counts_text()}) "
          f"in {o.wall_s:.1f} s")
    if not rep.summary.empty:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(rep.summary.head(args.top).to_string(index=False))
    print(f"results: {out / TRIALS}, {out / TIMESERIES}, {out / MANIFEST}")
    if o.errors:
        print(f"tiersweep: {len(o.errors)} evaluations failed (first: {o.errors[0][0]}: "
              f"{o.errors[0][1]}); run the same command again to retry them")
        return 1
    return 0
