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
                   help="sysfs directory in defaults.sh (default: the recommended version's, "
                        "/sys/kernel/mm/kmmscand for V0/V1, /sys/kernel/mm/kscand for V2/V3)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.report.defaults_out import evidence_text, rfc_label, write_defaults

    res = write_defaults(args.run_dir, args.out, args.sysfs_dir)
    rec = res.rec
    print(f"recommended: {rec.point} ({rec.selected_by})")
    print(f"  patch version {rec.version.upper()}"
          + (" (a knob of this run)" if "policy.version" in rec.params else "")
          + (f"; the rfc-default runs use {rec.base_version.upper()}'s defaults"
             if rec.base_version and rec.base_version != rec.version else ""))
    from harness.analysis.recommend import rfc_default

    for k, v in rec.knobs.items():
        print(f"  {k} = {v}   ({rfc_label(rec.version)}: {rfc_default(k, rec.version)})")
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
    from harness.report.defaults_out import tuning_text

    headline = tuning_text(args.run_dir)  # a tuning run's choice, baselines, provenance
    if headline:
        print("\n" + headline + "\n")
    for n in rec.notes:
        print(f"note: {n}")
    print(f"wrote {res.yaml_path} and {res.sh_path}")
    return 0
