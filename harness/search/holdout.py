"""Choosing on fresh seeds: the top k trials re-evaluated on the holdout seeds.

The best of N trials on the seeds that chose it is biased upward (the
winner's curse). The k best trials of the study (feasible ones first, then
by the study's value) are evaluated on the holdout seeds, which no trial
saw; the recommendation is the best of them there (feasible on the holdout
seeds first). The same for the kernel-settable recommendation: each
candidate with its proposed knobs held at the posted kernels' behaviour
(harness.experiment.provenance), evaluated on the holdout seeds, best there. Rows have mode "holdout".
"""

from __future__ import annotations

import json
import math
from typing import Any

from harness.analysis.normalize import References, constraint_values, feasible
from harness.errors import TiersweepError
from harness.experiment import Experiment
from harness.experiment.provenance import is_proposed, kernel_settable
from harness.run.backends import Backend
from harness.run.runner import run_evaluations
from harness.run.store import ResultStore
from harness.run.worker import Evaluation, eval_id
from harness.search.aggregate import aggregate

KERNEL_LABEL = "kernel-settable"


def candidates(study, k: int) -> list[dict]:
    """The k best complete trials: feasible first, then by value (single objective)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    sign = -1 if study.direction.name == "MAXIMIZE" else 1

    def key(t):
        viol = sum(max(v, 0.0) for v in t.constraints.values())
        return (viol > 0, viol if viol > 0 else 0.0, sign * t.value, t.number)

    return [{"trial": t.number, "params": dict(t.params), "study_value": float(t.value),
             "study_feasible": all(v <= 0 for v in t.constraints.values())}
            for t in sorted(done, key=key)[:k]]


def evaluations(exp: Experiment, key: str, label: str, params: dict, seeds) -> list[Evaluation]:
    return [Evaluation(eval_id=eval_id(exp.name, "holdout", key, w, s),
                       cfg=exp.run_config(w, s, params), run=exp.name, mode="holdout",
                       trial=-1, label=label, workload=w, seed=s, params=dict(params))
            for w in exp.workloads for s in seeds]


def score(exp: Experiment, rows, refs: References | None, seeds) -> tuple[float, dict, dict]:
    """(suite value of the first objective, constraint values, per-workload means)
    of rows on `seeds`."""
    o = exp.study.objectives[0]
    d = rows[rows["seed"].isin(list(seeds))]
    if refs is not None:
        d = refs.derive_frame(d)
    cols = [c for c in dict.fromkeys([o.metric, "hit_rate", "cpu_percent",
                                      "hit_loss_points"]) if c in d]
    means = d.groupby("workload")[cols].mean()
    value = aggregate([means.loc[w, o.metric] for w in exp.workloads], o.aggregate,
                      o.direction, exp.study.gmean_shift)
    per = {w: means.loc[w].to_dict() for w in exp.workloads}
    cons = constraint_values(per, exp.study.bounds) if exp.study.constraints \
        and refs is not None else {}
    return value, cons, per


def _best(rows: list[dict], direction: str) -> dict:
    sign = 1 if direction == "maximize" else -1
    return sorted(rows, key=lambda r: (not r["holdout_feasible"],
                                       -sign * (r["holdout_value"] if
                                                math.isfinite(r["holdout_value"]) else -1e300),
                                       r["trial"]))[0]


def choose(exp: Experiment, study, store: ResultStore, backend: Backend,
           refs: References | None, progress: bool) -> dict:
    """The recommendation and the kernel-settable recommendation, with the top-k
    table (study-seed and holdout-seed values of each candidate)."""
    st = exp.study
    o = st.objectives[0]
    tops = candidates(study, max(st.top_k, 1))
    if not tops:
        return {}
    holdout = [s for s in exp.holdout_seeds if s not in exp.seeds]
    proposed = any(is_proposed(p.key) for p in st.space)
    evals: list[Evaluation] = []
    kernel: dict[str, dict] = {}
    for c in tops:
        if holdout and st.top_k:
            evals += evaluations(exp, f"t{c['trial']:05d}", f"t{c['trial']}", c["params"],
                                 holdout)
        if proposed:
            kp = kernel_settable(c["params"])
            key = json.dumps(kp, sort_keys=True, default=str)
            if key not in kernel:
                kernel[key] = {"trial": c["trial"], "params": kp}
                evals += evaluations(exp, f"k{c['trial']:05d}", KERNEL_LABEL, kp,
                                     holdout or list(exp.seeds))
    out = run_evaluations(evals, store, backend, run=exp.name, mode="holdout",
                          progress=progress, desc="holdout")
    if out.errors:
        raise TiersweepError(f"holdout evaluations failed: {out.errors[0][1]}")
    t = out.table
    table: list[dict[str, Any]] = []
    for c in tops:
        row = {"kind": "trial", **c, "holdout_value": math.nan, "holdout_feasible": True}
        if holdout and st.top_k:
            v, cons, _ = score(exp, t[t["eval_id"].str.contains(f"/holdout/t{c['trial']:05d}/")],
                               refs, holdout)
            row.update(holdout_value=v, holdout_feasible=feasible(cons))
        table.append(row)
    for kc in kernel.values():
        rows = t[t["eval_id"].str.contains(f"/holdout/k{kc['trial']:05d}/")]
        row = {"kind": KERNEL_LABEL, **kc, "study_value": math.nan, "study_feasible": True,
               "holdout_value": math.nan, "holdout_feasible": True}
        if not holdout:
            sv, scons, _ = score(exp, rows, refs, exp.seeds)
            row.update(study_value=sv, study_feasible=feasible(scons))
        if holdout:
            hv, hcons, _ = score(exp, rows, refs, holdout)
            row.update(holdout_value=hv, holdout_feasible=feasible(hcons))
        table.append(row)
    trials = [r for r in table if r["kind"] == "trial"]
    if holdout and st.top_k:
        rec = _best(trials, o.direction)
        how = (f"best on the holdout seeds {holdout} of the study's top {len(trials)} "
               f"trials ({o.metric}, {o.aggregate} over the suite"
               + (", feasible first" if st.constraints else "") + ")")
    else:
        rec = trials[0]
        how = "best trial of the study" + (" (feasible first)" if st.constraints else "")
    choice = {"selected_by": how, "metric": o.metric,
              "recommendation": {**rec, "point": f"t{rec['trial']}"}, "topk": table}
    ks = [r for r in table if r["kind"] == KERNEL_LABEL]
    if ks:
        kbest = _best(ks, o.direction) if holdout else sorted(
            ks, key=lambda r: (not r["study_feasible"], -r["study_value"]))[0]
        choice["kernel"] = {**kbest, "point": f"k{kbest['trial']}"}
    return choice
