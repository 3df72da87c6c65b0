"""`tiersweep tune CONFIG`: an Optuna study over a workload suite, resumable."""

from __future__ import annotations

from harness.commands._common import add_run_args, backend_from, command_line, out_dir


def register(sub) -> None:
    p = sub.add_parser("tune", help="run (or resume) an Optuna study over a workload suite")
    add_run_args(p)
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="finished trials wanted in the study (default: study.trials, or 40)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="start no new trial after this many seconds")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage URL (e.g. postgresql://...) or journal file path "
                        "(default: DIR/study.journal)")
    p.add_argument("--no-compare", dest="compare", action="store_false",
                   help="skip the final tuned-versus-RFC-defaults evaluation")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.errors import TiersweepError
    from harness.experiment import load_experiment
    from harness.search.study import run_study

    if args.trials is not None and args.trials < 1:
        raise TiersweepError("--trials: expected at least 1")
    exp = load_experiment(args.config, args.overrides)
    if exp.study is None:
        from harness.errors import ConfigError

        raise ConfigError(f"{args.config}: study: missing; add a study: section with a space")
    out = out_dir(args, exp.name)
    with backend_from(args) as backend:
        rep = run_study(exp, out, backend, trials=args.trials, timeout_s=args.timeout,
                        storage=args.storage, progress=args.progress, command=command_line(),
                        compare=args.compare)
    print(rep.text)
    return 0
