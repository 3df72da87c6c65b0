"""`tiersweep defaults RUN_DIR`: recommended knob values as YAML and sysfs writes."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "defaults", help="recommended kmmscand knobs from a study or sweep, with evidence",
        description="Pick the best kmmscand point of RUN_DIR (a study's best trial, else the "
                    "best mean objective over the suite) and write RUN_DIR/defaults.yaml and "
                    "RUN_DIR/defaults.sh (sysfs writes; compile-time knobs as comments). "
                    "Prints the evidence: objective and hit rate against the RFC defaults "
                    "on each workload.")
    p.add_argument("run_dir", help="results directory (results/<name>/)")
    p.add_argument("--out", default=None, help="write here instead of RUN_DIR")
    p.add_argument("--sysfs-dir", default=None,
                   help="sysfs directory in defaults.sh (default /sys/kernel/mm/kmmscand)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.report.defaults_out import SYSFS_DIR, evidence_text, write_defaults

    res = write_defaults(args.run_dir, args.out, args.sysfs_dir or SYSFS_DIR)
    rec = res.rec
    print(f"recommended: {rec.point} ({rec.selected_by})")
    print(f"  patch version {rec.version}"
          + (" (a knob of this run)" if "policy.version" in rec.params else ""))
    for k, v in rec.knobs.items():
        print(f"  {k} = {v}")
    print("evidence: mean [95% t interval] over seeds; minus RFC paired by seed, "
          "'better' only where its interval excludes 0")
    print(evidence_text(rec))
    if not res.regret.empty:
        from harness.analysis.regret import regret_text

        own = "own_best" in res.regret
        print(f"\nregret per workload ({res.regret['metric'].iloc[0]}; "
              + ("own best = its per-workload study's best trial; " if own else
                 "no per-workload studies: set study.per_workload_trials; ")
              + "! = worse than the RFC defaults on the mean):")
        print(regret_text(res.regret))
    s = rec.summary()
    line = f"mean over the suite: objective {s['objective']:.3f}, hit rate {100 * s['hit_rate']:.2f}%"
    if "objective_rfc" in s:
        line += (f"; RFC defaults {s['objective_rfc']:.3f}, {100 * s['hit_rate_rfc']:.2f}%")
    print(line)
    for n in rec.notes:
        print(f"note: {n}")
    print(f"wrote {res.yaml_path} and {res.sh_path}")
    return 0
