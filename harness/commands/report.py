"""`tiersweep report RUN_DIR`: figures and a self-contained report.html."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="draw the figures and write report.html for a results directory",
        description="Read RUN_DIR/trials.parquet (plus timeseries.parquet and the Optuna "
                    "journal when present) and write RUN_DIR/figures/*.png|svg|csv and "
                    "RUN_DIR/report.html. Same results, same files.")
    p.add_argument("run_dir", help="results directory (results/<name>/)")
    p.add_argument("--out", default=None, help="write here instead of RUN_DIR")
    p.add_argument("--study", default=None, metavar="JOURNAL|RUN_DIR",
                   help="Optuna journal (or tune run directory) for the study figure; default: "
                        "the run's own journal, or the tuning run that compare --tuned named")
    p.add_argument("--eval", dest="timeseries_eval", default=None, metavar="EVAL_ID",
                   help="evaluation drawn over time (default: tuned, else RFC defaults, first "
                        "workload, lowest seed)")
    p.add_argument("--extra-points", type=int, default=None, metavar="N",
                   help="also draw the N best other points (default: 0 for a study's run, "
                        "whose best is 'tuned'; 3 for a sweep's)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.errors import InputError
    from harness.report.html import write_report

    if args.extra_points is not None and args.extra_points < 0:
        raise InputError(f"--extra-points: expected a count >= 0, not {args.extra_points}")
    res = write_report(args.run_dir, args.out, study=args.study,
                       timeseries_eval=args.timeseries_eval, extra_points=args.extra_points)
    print(f"wrote {res.html} ({len(res.figures) // 2} figures)")
    for key, why in res.skipped.items():
        print(f"  {key}: not drawn: {why}")
    for w in res.warnings:
        print(f"  warning: {w}")
    return 0
