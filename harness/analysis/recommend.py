"""`tiersweep defaults RUN_DIR`: recommended kmmscand knob values with evidence.

The recommendation is one evaluated point of the run:

* a study (tune run with an Optuna journal, one objective): its best trial,
  i.e. the best value of the study's own aggregate over the suite;
* otherwise (sweep, compare, multi-objective study): the kmmscand point with
  the highest mean objective (mean over workloads of the means over seeds)
  among those evaluated on every workload and seed of the run.

Written beside the results: ``defaults.yaml`` (knobs, their RFC defaults,
where each lives in the kernel, the evidence) and ``defaults.sh`` (sysfs
writes for the knobs the patches expose; the others as comments).
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness.analysis import summary as S
from harness.errors import InputError

DEFAULTS_YAML = "defaults.yaml"
DEFAULTS_SH = "defaults.sh"
SYSFS_DIR = "/sys/kernel/mm/kmmscand"

# Knobs the patches expose in sysfs (MODEL.md), by RunConfig path -> file name.
SYSFS_KNOBS = {
    "policy.scan_sleep_ms": "scan_sleep_ms",
    "policy.scan_period_ms": "mm_scan_period_ms",
    "policy.mms_to_scan": "mms_to_scan",
    "policy.scan_enabled": "scan_enabled",
    "policy.target_node": "target_node",
}
# Not knobs: they choose the policy and the patch version being simulated.
NOT_KNOBS = ("policy.kind", "policy.version")


def knob_kind(key: str) -> str:
    """Where a knob lives: sysfs, compile-time (other kmmscand knobs: constants in the
    patches or knobs only the simulator has), or model (not a kernel setting)."""
    if key in SYSFS_KNOBS:
        return "sysfs"
    if key in NOT_KNOBS:
        return "policy"
    if key.startswith("policy."):
        return "compile-time"
    return "model"


def rfc_default(key: str, version: str) -> Any:
    """The patch version's default of a policy knob (None for non-policy keys)."""
    from harness.config import PolicyConfig

    if not key.startswith("policy."):
        return None
    field_name = key.split(".", 1)[1]
    try:
        return getattr(PolicyConfig(kind="kmmscand", version=version), field_name)
    except (AttributeError, TypeError, ValueError):
        return None


def _plain(v: Any) -> Any:
    """numpy/pandas scalars -> plain Python for YAML; integral floats -> int."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if v.is_integer():
            return int(v)
    return v


@dataclass
class Recommendation:
    run: str
    mode: str
    point: str
    label: str
    version: str
    selected_by: str
    knobs: dict[str, Any]  # recommended values of the knobs varied in the run
    evidence: pd.DataFrame  # per workload, recommendation vs RFC defaults
    trial: int | None = None
    notes: list[str] = field(default_factory=list)
    # Every knob the point set (policy.version included): the overrides that reproduce it.
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Means over workloads on the suite's seeds (holdout seeds have their own rows)."""
        e = self.evidence[self.evidence["seeds"] != "holdout"]
        out = {"objective": float(e["objective"].mean()),
               "hit_rate": float(e["hit_rate"].mean())}
        if "objective_rfc" in e and e["objective_rfc"].notna().all():
            out["objective_rfc"] = float(e["objective_rfc"].mean())
            out["hit_rate_rfc"] = float(e["hit_rate_rfc"].mean())
        return out


def _study_best(run: S.RunData, df: pd.DataFrame) -> tuple[str, int] | None:
    """The point of a single-objective study's best trial, if the run has one."""
    if run.journal is None or "trial" not in df.columns:
        return None
    study = S.load_study(run.journal, S.study_name(run.manifest))
    if len(study.directions) != 1:
        return None
    try:
        best = study.best_trial
    except ValueError:  # no completed trial
        return None
    rows = df[(df["trial"] == best.number) & (df["mode"] == "tune")]
    if rows.empty:
        return None
    return str(rows["point"].iloc[0]), best.number


def recommend(run: S.RunData) -> Recommendation:
    df = S.with_points(run.trials)
    pts = S.points_table(df)
    kmm = pts[(pts["policy"] == "kmmscand")]
    if kmm.empty:
        raise InputError(f"{run.path / S.TRIALS}: no kmmscand evaluations; nothing to "
                         "recommend (run a sweep, tune or compare first)")
    picked = _study_best(run, df)
    if picked is not None:
        point, trial = picked
        selected_by = f"best trial #{trial} of the Optuna study (its aggregate over the suite)"
    else:
        full = kmm[kmm["complete"]]
        if full.empty:
            raise InputError(f"{run.path / S.TRIALS}: no kmmscand point was evaluated on every "
                             "workload and seed; nothing to recommend")
        best = full.sort_values(["objective", "point"], ascending=[False, True]).iloc[0]
        point, trial = str(best["point"]), None
        selected_by = ("highest mean objective over the suite (mean over workloads of the "
                       "means over seeds) among complete kmmscand points")
    rows = df[df["point"] == point]
    if trial is None and "trial" in rows.columns and rows["trial"].nunique() == 1 \
            and rows["mode"].iloc[0] == "tune":
        trial = int(rows["trial"].iloc[0])
    version = str(rows["version"].iloc[0]) if "version" in rows.columns else "v1"
    knobs = {}
    kmm_rows = df[df["policy"] == "kmmscand"]
    for col in S.varying_params(kmm_rows) or S.param_columns(kmm_rows):
        key = S.knob_name(col)
        if key in NOT_KNOBS:
            continue
        v = rows[col].dropna()
        knobs[key] = _plain(v.iloc[0]) if len(v) else rfc_default(key, version)
    # Evidence: the study's final comparison ("tuned", same trial, compare mode) also ran
    # holdout seeds; prefer it to the trial's own rows.
    evidence_point = point
    if trial is not None and "trial" in df.columns:
        again = df[(df["label"] == "tuned") & (df["mode"] == "compare") & (df["trial"] == trial)]
        if len(again):
            evidence_point = str(again["point"].iloc[0])
    suite_seeds = {s for _, s in S.reference_suite(df)}
    rec = Recommendation(run=run.name, mode=str(rows["mode"].iloc[0]), point=point,
                         label=str(rows["label"].iloc[0]), version=version,
                         selected_by=selected_by, knobs=knobs,
                         evidence=evidence_table(df, evidence_point, suite_seeds), trial=trial)
    for col in S.param_columns(rows):
        v = rows[col].dropna()
        if len(v):
            rec.params[S.knob_name(col)] = _plain(v.iloc[0])
    if evidence_point != point:
        rec.notes.append(f"evidence from the study's final comparison ({evidence_point!r}: "
                         "the same knobs, also on holdout seeds)")
    if "rfc-default" not in set(df["label"]):
        rec.notes.append("the run has no rfc-default evaluations: evidence shows the "
                         "recommendation only (sweeps and studies add them by default)")
    return rec


def _rfc_rows(df: pd.DataFrame, mode: str) -> pd.DataFrame:
    """RFC-default rows, one per (workload, seed): those of `mode` first."""
    rfc = df[df["label"] == "rfc-default"]
    if rfc.empty:
        return rfc
    rank = (rfc["mode"] != mode).astype(int)
    rfc = rfc.assign(_r=rank).sort_values(["_r", "eval_id"], kind="stable")
    return rfc.drop_duplicates(["workload", "seed"]).drop(columns="_r")


def evidence_table(df: pd.DataFrame, point: str, suite_seeds: set | None = None) -> pd.DataFrame:
    """Per seed group and workload: mean over seeds of objective, hit rate and cost of
    `point` and of the RFC defaults, on the seeds both were run with. Seed groups:
    ``study`` (the suite's seeds) and ``holdout`` (seeds only the final comparison ran)
    when there are holdout seeds, else ``all``."""
    rec = df[df["point"] == point]
    rfc = _rfc_rows(df, str(rec["mode"].iloc[0]))
    seeds_rec = set(rec["seed"].astype(int))
    suite_seeds = seeds_rec if suite_seeds is None else {int(s) for s in suite_seeds}
    holdout = sorted(seeds_rec - suite_seeds)
    groups = [("study", sorted(seeds_rec & suite_seeds)), ("holdout", holdout)] if holdout \
        else [("all", sorted(seeds_rec))]
    rows = []
    for gname, gseeds in groups:
        for w in dict.fromkeys(df["workload"]):
            a = rec[(rec["workload"] == w) & rec["seed"].isin(gseeds)]
            if a.empty:
                continue
            b = rfc[(rfc["workload"] == w) & rfc["seed"].isin(gseeds)]
            seeds = sorted(set(a["seed"]) & set(b["seed"])) if len(b) else sorted(set(a["seed"]))
            a = a[a["seed"].isin(seeds)]
            b = b[b["seed"].isin(seeds)]
            row = {"seeds": gname, "workload": w, "n_seeds": len(seeds),
                   "objective": a["objective"].mean(), "hit_rate": a["hit_rate"].mean(),
                   "cost_cpu_s": a["cost_cpu_s"].mean(),
                   "objective_rfc": b["objective"].mean() if len(b) else math.nan,
                   "hit_rate_rfc": b["hit_rate"].mean() if len(b) else math.nan,
                   "cost_cpu_s_rfc": b["cost_cpu_s"].mean() if len(b) else math.nan}
            rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ output


def to_yaml(rec: Recommendation) -> str:
    knobs = {}
    for key, value in rec.knobs.items():
        kind = knob_kind(key)
        entry: dict[str, Any] = {"value": _plain(value), "rfc_default": _plain(
            rfc_default(key, rec.version)), "kernel": kind}
        if kind == "sysfs":
            entry["sysfs"] = f"{SYSFS_DIR}/{SYSFS_KNOBS[key]}"
        knobs[key] = entry
    evidence = [{k: _plain(round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                for r in rec.evidence.to_dict("records")]
    doc = {
        "run": rec.run,
        "mode": rec.mode,
        "point": rec.point,
        "label": rec.label,
        **({"trial": rec.trial} if rec.trial is not None else {}),
        "policy_version": rec.version,
        "selected_by": rec.selected_by,
        "knobs": knobs,
        "overrides": {k: _plain(v) for k, v in rec.knobs.items()},
        "evidence": evidence,
        "summary": {k: round(v, 6) for k, v in rec.summary().items()},
    }
    if rec.notes:
        doc["notes"] = rec.notes
    head = ("# Recommended kmmscand knobs (tiersweep defaults). `overrides` can be used as\n"
            "# `tiersweep simulate --set KEY=VALUE` or in an experiment's `set:` mapping.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def _sysfs_value(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(_plain(v))


def to_shell(rec: Recommendation, sysfs_dir: str = SYSFS_DIR) -> str:
    s = rec.summary()
    lines = [
        "#!/bin/sh",
        f"# Recommended kmmscand knobs from tiersweep run {rec.run!r} ({rec.mode}),",
        f"# point {rec.point!r}, patch version {rec.version}; selected by {rec.selected_by}.",
        f"# Mean over the suite: objective {s['objective']:.3f}, hit rate "
        f"{100 * s['hit_rate']:.2f}%"
        + (f" (RFC defaults: {s['objective_rfc']:.3f}, {100 * s['hit_rate_rfc']:.2f}%)."
           if "objective_rfc" in s else "."),
        "# V2/V3 name the thread kscand: set KMMSCAND_SYSFS to the directory your kernel has.",
        "set -e",
        f"SYSFS=\"${{KMMSCAND_SYSFS:-{sysfs_dir}}}\"",
    ]
    sysfs = {k: v for k, v in rec.knobs.items() if knob_kind(k) == "sysfs"}
    if sysfs:
        for key, v in sysfs.items():
            lines.append(f"echo {shlex.quote(_sysfs_value(v))} > \"$SYSFS/{SYSFS_KNOBS[key]}\""
                         f"   # RFC default {_sysfs_value(rfc_default(key, rec.version))}")
    else:
        lines.append("# (no sysfs knob was varied in this run: nothing to write)")
    ct = {k: v for k, v in rec.knobs.items() if knob_kind(k) == "compile-time"}
    if ct:
        lines.append("# Compile-time constants in the patches (or knobs only the simulator has);")
        lines.append("# change them in the kernel source and rebuild:")
        for key, v in ct.items():
            lines.append(f"#   {key.split('.', 1)[1]} = {_sysfs_value(v)}"
                         f"   (RFC default {_sysfs_value(rfc_default(key, rec.version))})")
    model = {k: v for k, v in rec.knobs.items() if knob_kind(k) == "model"}
    if model:
        lines.append("# Simulator parameters (not kernel settings), as evaluated:")
        for key, v in model.items():
            lines.append(f"#   {key} = {_sysfs_value(v)}")
    return "\n".join(lines) + "\n"


def evidence_text(rec: Recommendation) -> str:
    e = rec.evidence.copy()
    out = pd.DataFrame({
        "seeds": e["seeds"], "workload": e["workload"], "n": e["n_seeds"],
        "objective": e["objective"].map(lambda x: f"{x:.3f}"),
        "obj (RFC)": e["objective_rfc"].map(lambda x: "-" if pd.isna(x) else f"{x:.3f}"),
        "hit %": (100 * e["hit_rate"]).map(lambda x: f"{x:.2f}"),
        "hit % (RFC)": (100 * e["hit_rate_rfc"]).map(lambda x: "-" if pd.isna(x) else f"{x:.2f}"),
        "CPU-s": e["cost_cpu_s"].map(lambda x: f"{x:.3f}"),
        "CPU-s (RFC)": e["cost_cpu_s_rfc"].map(lambda x: "-" if pd.isna(x) else f"{x:.3f}"),
    })
    return out.to_string(index=False)


@dataclass
class DefaultsResult:
    rec: Recommendation
    yaml_path: Path
    sh_path: Path


def write_defaults(run_dir: str | Path, out_dir: str | Path | None = None,
                   sysfs_dir: str = SYSFS_DIR) -> DefaultsResult:
    from harness.report.html import atomic_write

    run = S.load_run(run_dir)
    rec = recommend(run)
    out = Path(out_dir) if out_dir is not None else run.path
    y, sh = out / DEFAULTS_YAML, out / DEFAULTS_SH
    atomic_write(y, to_yaml(rec).encode())
    atomic_write(sh, to_shell(rec, sysfs_dir).encode())
    return DefaultsResult(rec, y, sh)
