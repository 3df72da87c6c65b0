"""`tiersweep tune CONFIG`: an Optuna study over a workload suite, resumable."""

from __future__ import annotations

from typing import Any

from harness.commands._common import add_run_args, backend_from, command_line, flag_names, out_dir


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
    from harness.errors import ConfigError, InputError
    from harness.experiment import load_experiment
    from harness.search.study import run_study

    if args.trials is not None and args.trials < 1:
        raise InputError(f"--trials: expected at least 1, not {args.trials}")
    if args.timeout is not None and not args.timeout > 0:
        raise InputError(f"--timeout: expected seconds > 0, not {args.timeout}")
    exp = load_experiment(args.config, args.overrides, override_source="--set")
    if exp.study is None:
        raise ConfigError(f"{args.config}: study: missing; add a study: section with a space")
    out = out_dir(args, exp.name)
    if args.dry_run:
        from harness.search.plan import footprint_lines, plan_study

        print(plan_study(exp, out, args.trials, args.cpus, args.compare, args.storage).text())
        print(footprint_lines(exp))
        return 0
    import contextlib

    from harness.commands._common import check_backend_args
    from harness.run.backends import InlineBackend
    from harness.run.store import RunLock, check_same_experiment
    from harness.search.study import shares_study, work_left

    check_backend_args(args)
    # The run directory's lock before Ray starts: a taken directory fails at once,
    # and so does one holding another study.
    # Several drivers of one study on a database storage share the directory.
    with flag_names(), RunLock(out, shared=shares_study(args.storage)):
        check_same_experiment(out, "tune", exp.fingerprint("tune"), exp.describe())
        # A finished study is reported again without starting Ray: nothing to run.
        idle = not work_left(exp, out, trials=args.trials, storage=args.storage,
                             compare=args.compare)
        with (contextlib.nullcontext(InlineBackend()) if idle else backend_from(args)) \
                as backend:
            rep = run_study(exp, out, backend, trials=args.trials, timeout_s=args.timeout,
                            storage=args.storage, progress=args.progress,
                            command=command_line(), compare=args.compare)
    print(study_text(exp, rep))
    from harness.report.defaults_out import tuning_text

    headline = tuning_text(out)  # the recommendation beside RFC defaults and baselines
    if headline:
        print("\n" + headline)
    return 0


# ------------------------------------------------------------------ the report


def study_text(exp, rep) -> str:
    """What `tune` prints at the end: counts, the comparison, the front, importances."""
    from harness.run.store.layout import MANIFEST, TIMESERIES, TRIALS

    parts = [_header(exp, rep)]
    if rep.best and not rep.comparison.empty:
        rec = rep.best[0]
        if rep.choice:  # the comparison ran the trial chosen on the holdout seeds
            r = rep.choice["recommendation"]
            rec = {**rec, "number": r["trial"], "params": r["params"]}
        parts.append(_comparison_text(exp, rec, rep.comparison))
        parts.append(_regret_text(exp, rep.regret))
        parts.append(_front_text(exp, rep.best) if exp.study.multi else "")
    elif rep.best:  # --no-compare: the best trial (or the front) without the comparison
        parts.append(_front_text(exp, rep.best) if exp.study.multi else _best_text(exp, rep.best[0]))
    parts.append(_importance_text(rep.importances))
    out = rep.out_dir
    parts.append(f"results: {out / TRIALS} ({rep.rows} rows), {out / TIMESERIES}, "
                 f"{out / MANIFEST}\n{dashboard_hint(rep.storage)}")
    return "\n".join(t for t in parts if t)


def dashboard_hint(storage: str) -> str:
    """How to browse the study: the command, or how to install it first."""
    import shutil

    if shutil.which("optuna-dashboard"):
        return f"dashboard: optuna-dashboard {storage}"
    return (f"dashboard: pip install 'tiersweep[dashboard]', then optuna-dashboard {storage} "
            "(not installed here)")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _header(exp, rep) -> str:
    st, counts = exp.study, rep.counts
    lines = [f"study {exp.name}: {sum(counts.values())} trials "
             f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}) in "
             f"{rep.trials_wall_s:.1f} s; {rep.evaluations_run} evaluations run, "
             f"{rep.evaluations_reused} reused"
             + (f", {rep.evaluations_identical} identical to an earlier trial's knobs (not "
                "rerun)" if rep.evaluations_identical else "")
             + (f"; {rep.own_evaluations_run} run by the per-workload studies"
                if rep.own_evaluations_run else "")]
    fid = rep.fidelity
    if fid:
        lines.append(f"  rungs ({fid['pruner']}): " + ", ".join(
            f"{s} s {n} trials" for s, n in zip(fid["steps_s"], fid["reported"], strict=True))
            + f"; {fid['pruned']} pruned; evaluations run per rung "
            + "/".join(str(n) for n in fid["evaluations_run"]))
    if rep.recovered:
        lines.append(f"  resumed: trials {rep.recovered} were left running by a dead driver; "
                     "marked failed and retried")
    objs = ", ".join(f"{o.metric} ({o.direction}, {o.aggregate} over {len(exp.workloads)} "
                     f"workloads x {len(exp.seeds)} seeds)" for o in st.objectives)
    lines.append(f"  objective: {objs}")
    return "\n".join(lines)


def _comparison_text(exp, best: dict, df) -> str:
    from harness.analysis.recommend import rfc_default
    from harness.experiment import DEFAULT_LABEL
    from harness.experiment.spec import TUNED
    from harness.report.defaults_out import rfc_label

    defaults = exp.default_values(list(best["params"]) + ["policy.version"])
    base = str(defaults["policy.version"])
    mine = str(best["params"].get("policy.version", base))
    lines = [f"{TUNED} (trial {best['number']}, {mine.upper()}) vs {DEFAULT_LABEL} "
             f"({rfc_label(base)}s) knobs:"]
    for k, v in best["params"].items():
        note = f"{DEFAULT_LABEL}: {_fmt(defaults.get(k))}"
        if mine != base and k != "policy.version":  # the tuned version's own default too
            note += f"; {rfc_label(mine)}: {_fmt(rfc_default(k, mine))}"
        lines.append(f"  {k:<36} {_fmt(v):>12}   ({note})")
    for o in exp.study.objectives:
        for gname, g in df[df["objective"] == o.metric].groupby("seeds", sort=False):
            seeds = exp.seeds if gname == "study seeds" else exp.holdout_seeds
            lines.append(f"{o.metric} ({o.direction}), mean over {gname} {list(seeds)}; "
                         f"{TUNED} - {DEFAULT_LABEL} paired by seed, 95% t interval:")
            lines.append(f"  {'workload':<16} {DEFAULT_LABEL:>12} {TUNED:>12} "
                         f"{'change [95% interval]':>32}  verdict")
            for r in g.to_dict("records"):
                d, tv = r[DEFAULT_LABEL], r[TUNED]
                rel = f"{r['diff'] / abs(d):+.1%}" if abs(d) > 1e-12 else ""
                span = (f"[{r['diff_lo']:+.3g}, {r['diff_hi']:+.3g}]"
                        if r["diff_lo"] == r["diff_lo"] else "[n/a: 1 seed]")
                lines.append(f"  {r['workload']:<16} {d:>12.5g} {tv:>12.5g} "
                             f"{r['diff']:>+10.4g} {rel:>7} {span:>14}  {r['verdict']}")
    return "\n".join(lines)


def _regret_text(exp, regret) -> str:
    from harness.analysis.regret import regret_text

    if regret is None or regret.empty:
        return ""
    own = "own best = the best trial of its per-workload study; " if "own_best" in regret \
        else "no per-workload studies (study.per_workload_trials: 0); "
    return (f"regret per workload ({regret['metric'].iloc[0]}, mean [95% t interval] over "
            f"{int(regret['n_seeds'].max())} seeds, study and holdout; {own}"
            "! = tuned worse than RFC on the mean):\n" + regret_text(regret))


def _best_text(exp, best: dict) -> str:
    o = exp.study.objectives[0]
    lines = [f"best trial {best['number']}: {o.metric} {best['values'][0]:.5g} ({o.aggregate} "
             f"over the suite; no comparison with the RFC defaults: --no-compare)"]
    for k, v in best["params"].items():
        lines.append(f"  {k:<36} {_fmt(v):>12}")
    return "\n".join(lines)


def _front_text(exp, best: list[dict]) -> str:
    from harness.run.store.layout import STUDY_TRIALS

    objectives = exp.study.objectives
    lines = [f"pareto front ({len(best)} trials): " + " | ".join(
        f"{o.metric} ({o.direction})" for o in objectives)]
    for b in best[:15]:
        vals = "  ".join(f"{v:.5g}" for v in b["values"])
        knobs = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in b["params"].items())
        lines.append(f"  t{b['number']:<5} {vals}   {knobs}")
    if len(best) > 15:
        lines.append(f"  ... {len(best) - 15} more in {STUDY_TRIALS}")
    return "\n".join(lines)


def _importance_text(importances: dict[str, dict[str, float]]) -> str:
    lines = []
    for metric, imp in importances.items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in list(imp.items())[:6])
        lines.append(f"parameter importance for {metric} (PED-ANOVA): {parts}")
    return "\n".join(lines)
