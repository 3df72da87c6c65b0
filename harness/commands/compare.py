"""`tiersweep compare CONFIG`: none, numab2, RFC defaults, tuned and oracle side by side."""

from __future__ import annotations

import sys


def register(sub) -> None:
    from harness.commands._common import add_run_args

    p = sub.add_parser(
        "compare", help="run the policies side by side over a workload suite and seeds",
        description="Run none, numab2, damon_tier, kmmscand with the RFC defaults, kmmscand with tuned "
                    "knobs (--tuned RUN_DIR) and the oracle on every workload of CONFIG's "
                    "suite with every seed (holdout seeds included), as Ray tasks, into a "
                    "results directory (mode compare). Then: tiersweep report DIR.")
    add_run_args(p)
    p.add_argument("--tuned", default=None, metavar="RUN_DIR",
                   help="tuning (or sweep) run whose recommended knobs are the 'tuned' policy "
                        "(as `tiersweep defaults RUN_DIR` picks them)")
    p.add_argument("--policies", default=None, metavar="LIST",
                   help="comma-separated subset of none,numab2,rfc-default,tuned,oracle "
                        "(default: all)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.commands._common import backend_from, command_line, flag_names, out_dir
    from harness.experiment import load_experiment
    from harness.search.compare import run_compare, tuned_from

    exp = load_experiment(args.config, args.overrides, override_source="--set")
    out = out_dir(args, exp.name)
    tuned = tuned_from(args.tuned) if args.tuned else None
    policies = [p.strip() for p in args.policies.split(",") if p.strip()] \
        if args.policies else None
    # Progress bar on a terminal only: quiet in logs and CI.
    progress = args.progress and sys.stderr.isatty()
    if args.dry_run:
        from harness.search.compare import POLICIES, TUNED
        from harness.search.plan import plan_compare

        chosen = [p for p in (policies or POLICIES) if p != TUNED or tuned is not None]
        print(plan_compare(exp, out, chosen, tuned, args.cpus).text())
        return 0
    from harness.commands._common import check_backend_args
    from harness.run.store import RunLock

    check_backend_args(args)
    # The run directory's lock before Ray starts: a taken directory fails at once.
    with flag_names(), RunLock(out), backend_from(args) as backend:
        rep = run_compare(exp, out, backend, policies=policies, tuned=tuned, progress=progress,
                          command=command_line())
    o = rep.outcome
    print(f"compare {exp.name}: {len(o.table)} evaluations ({o.counts_text()}) "
          f"in {o.wall_s:.1f} s")
    if tuned is not None:
        knobs = ", ".join(f"{k}={v}" for k, v in tuned.params.items())
        print(f"tuned: {tuned.point} from {tuned.run_dir} ({knobs})")
    if not rep.table.empty:
        print(rep.table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"results: {out}; next: tiersweep report {out}")
    if o.errors:
        print(f"tiersweep: {len(o.errors)} evaluations failed (first: {o.errors[0][0]}: "
              f"{o.errors[0][1]}); run the same command again to retry them")
        return 1
    return 0
