"""`tiersweep compare CONFIG`: policies side by side over a workload suite and seeds.

The policies (labels): ``none`` (first-touch placement, no promotion),
``numab2`` (NUMA balancing tiering mode), ``damon_tier`` (DAMON's
migrate_hot / migrate_cold, samples/damon/mtier.c), ``rfc-default`` (kmmscand as the
experiment's base config has it: the RFC's default knobs of its patch
version, with adaptation), ``tuned`` (kmmscand with the knobs `tiersweep
defaults` recommends for a named tuning run) and ``oracle`` (the hottest pages
on the fast tier, free migrations: an upper bound).

Every policy runs every suite workload with every seed (study seeds plus
holdout seeds) as Ray tasks through ``harness.run.runner.run_evaluations``, into
a results directory like any sweep (mode "compare").

This module is the one builder of default-versus-tuned evaluations: a study's
final comparison (``compare_default``) is the same two labels built here, so
in a tuning run's own directory the evaluations it already made
(``default``, ``tuned-tNNNNN``) are reused, not rerun.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import atomic
from harness.analysis.regret import regret_table
from harness.analysis.stats import group_ci, paired
from harness.errors import ConfigError, InputError, TiersweepError
from harness.experiment import DEFAULT_LABEL, Experiment
from harness.experiment.spec import NAMED_LABELS, OWN_BEST, TUNED
from harness.run.backends import Backend
from harness.run.runner import Outcome, run_evaluations, run_recorded
from harness.run.store import ResultStore, RunLock, start_manifest
from harness.run.store.layout import COMPARE_INFO
from harness.run.worker import Evaluation, eval_id
from harness.search.aggregate import aggregate

POLICIES = NAMED_LABELS  # none, numab2, damon_tier, rfc-default, tuned, oracle

# Overrides that turn the experiment's base config into each policy.
_POLICY_PARAMS: dict[str, dict[str, Any]] = {
    "none": {"policy.kind": "none"},
    "numab2": {"policy.kind": "numab2"},
    "damon_tier": {"policy.kind": "damon_tier"},
    "oracle": {"policy.kind": "oracle"},
}


@dataclass
class Tuned:
    run_dir: Path
    params: dict[str, Any]
    trial: int | None
    point: str
    selected_by: str


def tuned_from(run_dir: str | Path) -> Tuned:
    """The knobs `tiersweep defaults` recommends for a tuning (or sweep) run."""
    from harness.analysis.recommend import recommend
    from harness.analysis.runs import load_run

    run = load_run(run_dir)
    rec = recommend(run)
    params = {k: v for k, v in rec.params.items() if k != "policy.kind"}
    if not params:
        raise InputError(f"{run.path}: the recommended point {rec.point!r} sets no knob; "
                         "nothing to compare as tuned")
    return Tuned(Path(run_dir), params, rec.trial, rec.point, rec.selected_by)


def _key(params: dict) -> str:
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def all_seeds(exp: Experiment) -> list[int]:
    """Study seeds, then the holdout seeds not among them."""
    return list(exp.seeds) + [s for s in exp.holdout_seeds if s not in exp.seeds]


def compare_evaluations(exp: Experiment, policies: list[str], tuned: Tuned | None,
                        out_dir: Path) -> list[Evaluation]:
    """Evaluation objects: each policy x suite workload x seed (study + holdout seeds)."""
    seeds = all_seeds(exp)
    base_kind = exp.run_config(exp.workloads[0], seeds[0]).policy.kind
    evals = []
    for label in policies:
        trial = -1
        if label == TUNED:
            if tuned is None:
                continue
            params = dict(tuned.params)
            if base_kind != "kmmscand":
                params = {"policy.kind": "kmmscand", **params}
            same_run = tuned.run_dir.resolve() == out_dir.resolve()
            if same_run and tuned.trial is not None:
                key, trial = f"tuned-t{tuned.trial:05d}", tuned.trial  # as the study's own
            else:
                key = f"tuned-{_key(params)}"
        elif label == DEFAULT_LABEL:
            key = "default"
            params = {} if base_kind == "kmmscand" else {"policy.kind": "kmmscand"}
        else:
            key, params = label, dict(_POLICY_PARAMS[label])
        for w in exp.workloads:
            for s in seeds:
                try:
                    cfg = exp.run_config(w, s, params)
                except ConfigError as exc:
                    raise ConfigError(f"{label}: {exc}") from None
                evals.append(Evaluation(
                    eval_id=eval_id(exp.name, "compare", key, w, s), cfg=cfg, run=exp.name,
                    mode="compare", trial=trial, label=label, workload=w, seed=s,
                    params=dict(params)))
    return evals


def fingerprint(exp, policies: list[str], tuned: Tuned | None) -> str:
    body = {"experiment": exp.fingerprint("compare"), "policies": policies,
            "holdout": list(exp.holdout_seeds),
            "tuned": None if tuned is None else tuned.params}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class CompareReport:
    out_dir: Path
    outcome: Outcome
    table: pd.DataFrame  # per label: mean objective, hit rate and cost over the suite


def run_compare(exp: Experiment, out_dir: str | Path, backend: Backend, *,
                policies: list[str] | None = None, tuned: Tuned | None = None,
                progress: bool = True, command: list[str] | None = None) -> CompareReport:
    out = Path(out_dir)
    policies = list(policies or POLICIES)
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        raise ConfigError(f"policies: unknown {', '.join(bad)}; expected some of "
                          f"{', '.join(POLICIES)}")
    if TUNED in policies and tuned is None:
        policies.remove(TUNED)
    evals = compare_evaluations(exp, policies, tuned, out)
    with RunLock.reuse(out):
        manifest = start_manifest(out, mode="compare", fingerprint=fingerprint(exp, policies, tuned),
                                  experiment=exp.describe(), command=command,
                                  extra={"backend": backend.describe(), "evaluations": len(evals),
                                         "policies": policies})
        if tuned is not None:
            info = {"tuned_from": str(tuned.run_dir.resolve()), "point": tuned.point,
                    "trial": tuned.trial, "selected_by": tuned.selected_by,
                    "params": tuned.params}
            atomic.write_text(out / COMPARE_INFO, json.dumps(info, indent=2, default=str) + "\n")
        outcome = run_recorded(evals, out, manifest, backend, run=exp.name, mode="compare",
                               progress=progress)
    return CompareReport(out, outcome, policy_table(outcome.table, policies))


def policy_table(table: pd.DataFrame, policies: list[str]) -> pd.DataFrame:
    """Per label: mean over workloads of the means over seeds (all seeds run), and
    the objective's 95% t interval over seeds (of the mean over workloads at each
    seed; analysis.stats)."""
    if table.empty:
        return pd.DataFrame()
    pw = table.groupby(["label", "workload"])[["objective", "hit_rate", "cost_cpu_s"]].mean()
    out = pw.groupby(level="label").mean()
    ci = group_ci(table.groupby(["label", "seed"])["objective"].mean().groupby(level="label"))
    out.insert(1, "obj 95% lo", ci["lo"])
    out.insert(2, "obj 95% hi", ci["hi"])
    out["hit_rate"] *= 100
    out = out.rename(columns={"hit_rate": "hit rate %", "cost_cpu_s": "CPU-s"})
    order = [p for p in policies if p in out.index]
    return out.loc[order].reset_index()


# ------------------------------------------------- a study's final comparison


def own_best_evaluations(exp: Experiment, own: dict[str, dict]) -> list[Evaluation]:
    """Each workload's own best knobs (its per-workload study's best trial) on that
    workload, with the comparison's seeds: the regret baseline."""
    evals = []
    for w, best in own.items():
        params = dict(best["params"])
        for s in all_seeds(exp):
            evals.append(Evaluation(
                eval_id=eval_id(exp.name, "compare", f"own-t{best['number']:05d}", w, s),
                cfg=exp.run_config(w, s, params), run=exp.name, mode="compare", trial=-1,
                label=OWN_BEST, workload=w, seed=s, params=params))
    return evals


def compare_default(exp: Experiment, best: dict, store: ResultStore, backend: Backend,
                    progress: bool, own: dict[str, dict] | None = None, refs=None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate the RFC defaults, a study's best knobs and (given per-workload
    studies' bests) each workload's own best on the suite (+ holdout seeds) into
    the study's own store: the per-objective table of ``default_vs_tuned`` and
    the regret table of the first objective. `refs`: the suite's references
    (harness.analysis.normalize.References) for normalized objectives."""
    tuned = Tuned(run_dir=store.dir, params=dict(best["params"]), trial=best["number"],
                  point=f"t{best['number']}", selected_by="study best")
    evals = compare_evaluations(exp, [DEFAULT_LABEL, TUNED], tuned, store.dir)
    evals += own_best_evaluations(exp, own or {})
    outcome = run_evaluations(evals, store, backend, run=exp.name, mode="compare",
                              progress=progress, desc="compare")
    if outcome.errors:
        raise TiersweepError(f"comparison evaluations failed: {outcome.errors[0][1]}")
    t = outcome.table
    if refs is not None:  # the normalized metrics (harness.analysis.normalize)
        t = refs.derive_frame(t)
    o = exp.study.objectives[0]
    regret = regret_table(t[t["label"] == OWN_BEST], t[t["label"] == TUNED],
                          t[t["label"] == DEFAULT_LABEL], o.metric, o.direction, exp.workloads)
    return default_vs_tuned(exp, t[t["label"] != OWN_BEST]), regret


def _paired_row(head: dict, workload: str, values: dict[str, np.ndarray], direction: str) -> dict:
    """values: label -> the metric per seed (the same seeds for both labels)."""
    return {**head, "workload": workload,
            **{label: float(np.mean(v)) for label, v in values.items()},
            **paired(values[TUNED], values[DEFAULT_LABEL], direction)}


def default_vs_tuned(exp: Experiment, table: pd.DataFrame) -> pd.DataFrame:
    """Per objective x seed group (study, holdout) x workload: the mean over seeds of
    rfc-default and tuned, and the paired difference tuned - rfc-default per seed
    with its 95% interval and verdict (harness.analysis.stats); then one row of
    each objective's suite aggregate (the aggregate per seed, paired the same way)."""
    st = exp.study
    rows = []
    groups = [("study seeds", list(exp.seeds))]
    if exp.holdout_seeds:
        groups.append(("holdout seeds", list(exp.holdout_seeds)))
    labels = (DEFAULT_LABEL, TUNED)
    for o in st.objectives:
        for gname, gseeds in groups:
            sub = table[table["seed"].isin(gseeds)]
            # label -> workload -> seed -> value
            per = {label: sub[sub["label"] == label].groupby(["workload", "seed"])[o.metric]
                   .mean() for label in labels}
            seeds = sorted(set(gseeds).intersection(*(
                set(p.index.get_level_values("seed")) for p in per.values())))

            head = {"objective": o.metric, "seeds": gname, "n_seeds": len(seeds)}
            for w in exp.workloads:
                rows.append(_paired_row(head, w, {label: np.array(
                    [per[label].get((w, s), np.nan) for s in seeds]) for label in labels},
                    o.direction))
            agg = {label: np.array([aggregate([per[label].get((w, s), np.nan)
                                               for w in exp.workloads], o.aggregate,
                                              o.direction, st.gmean_shift) for s in seeds])
                   for label in labels}
            r = _paired_row(head, f"[{o.aggregate}]", agg, o.direction)
            # The suite's figure is the aggregate of the per-workload means (as the study's).
            for label in labels:
                r[label] = aggregate([per[label].xs(w, level="workload").mean()
                                      for w in exp.workloads], o.aggregate, o.direction,
                                     st.gmean_shift)
            rows.append(r)
    return pd.DataFrame(rows)
