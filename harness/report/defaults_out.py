"""`tiersweep defaults RUN_DIR`: the recommendation written out.

Beside the results (or in another directory): ``defaults.yaml`` (knobs, their
RFC defaults, where each lives in the kernel, the evidence) and ``defaults.sh``
(sysfs writes for the knobs the patches expose; the others as comments). The
recommendation itself is ``harness.analysis.recommend``.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness import atomic
from harness.analysis.points import with_points
from harness.analysis.recommend import NOT_KNOBS, Recommendation, plain, recommend, rfc_default
from harness.analysis.runs import load_run
from harness.analysis.stats import format_ci
from harness.experiment.provenance import is_proposed, where
from harness.run.store.layout import DEFAULTS_SH, DEFAULTS_YAML

# The scanner's sysfs directory by patch version: the thread is kmmscand in V0/V1
# and kscand from V2 on (MODEL.md).
SYSFS_DIRS = {"v0": "/sys/kernel/mm/kmmscand", "v1": "/sys/kernel/mm/kmmscand",
              "v2": "/sys/kernel/mm/kscand", "v3": "/sys/kernel/mm/kscand"}
SYSFS_DIR = SYSFS_DIRS["v1"]


def sysfs_dir(version: str) -> str:
    return SYSFS_DIRS.get(version, SYSFS_DIR)


def thread_name(version: str) -> str:
    return sysfs_dir(version).rsplit("/", 1)[1]


def rfc_label(version: str) -> str:
    """Whose default a value is: "RFC V3 default" (never a bare "RFC default")."""
    return f"RFC {version.upper()} default"


def _default_note(key: str, rec: Recommendation) -> str:
    """The recommended version's default of a knob, and the compared rfc-default
    run's when that run used another version."""
    text = f"{rfc_label(rec.version)} {sysfs_value(rfc_default(key, rec.version))}"
    base = rec.base_version
    if base and base != rec.version:
        text += f"; the rfc-default runs ({base.upper()}): {sysfs_value(rfc_default(key, base))}"
    return text

# Knobs the patches expose in sysfs (MODEL.md), by RunConfig path -> file name.
SYSFS_KNOBS = {
    "policy.scan_sleep_ms": "scan_sleep_ms",
    "policy.scan_period_ms": "mm_scan_period_ms",
    "policy.mms_to_scan": "mms_to_scan",
    "policy.scan_enabled": "scan_enabled",
    "policy.target_node": "target_node",
}


def knob_kind(key: str) -> str:
    """Where a knob lives: sysfs, proposed (in no posted version: the migration
    list's batch cap, rate limit and de-duplication), compile-time (the other
    kmmscand knobs: constants in the patches), or model (not a kernel setting)."""
    if key in SYSFS_KNOBS:
        return "sysfs"
    if key in NOT_KNOBS:
        return "policy"
    if is_proposed(key):
        return "proposed"
    if key.startswith("policy.") and where(key) != "simulator":
        return "compile-time"
    return "model"


def to_yaml(rec: Recommendation) -> str:
    knobs = {}
    for key, value in rec.knobs.items():
        kind = knob_kind(key)
        entry: dict[str, Any] = {"value": plain(value), "rfc_default": plain(
            rfc_default(key, rec.version)), "rfc_default_of": rfc_label(rec.version),
            "kernel": kind}
        if rec.base_version and rec.base_version != rec.version:
            entry["compared_rfc_default"] = plain(rfc_default(key, rec.base_version))
            entry["compared_rfc_default_of"] = rfc_label(rec.base_version)
        if kind == "sysfs":
            entry["sysfs"] = f"{sysfs_dir(rec.version)}/{SYSFS_KNOBS[key]}"
        knobs[key] = entry
    evidence = [{k: plain(round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
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
        "overrides": {k: plain(v) for k, v in rec.knobs.items()},
        "evidence": evidence,
        "summary": {k: round(v, 6) for k, v in rec.summary().items()},
    }
    if rec.notes:
        doc["notes"] = rec.notes
    head = ("# Recommended kmmscand knobs (tiersweep defaults). `overrides` can be used as\n"
            "# `tiersweep simulate --set KEY=VALUE` or in an experiment's `set:` mapping.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def sysfs_value(v: Any) -> str:
    """A knob value as sysfs takes it (booleans as 1/0)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(plain(v))


def _commented(rec, kind: str, header: list[str], note) -> list[str]:
    """The knobs of one kind as shell comments under `header`, each with its note."""
    knobs = {k: v for k, v in rec.knobs.items() if knob_kind(k) == kind}
    if not knobs:
        return []
    return header + [f"#   {key.split('.', 1)[1]} = {sysfs_value(v)}   ({note(key)})"
                     for key, v in knobs.items()]


def to_shell(rec: Recommendation, sysfs_dir_override: str | None = None) -> str:
    s = rec.summary()
    directory = sysfs_dir_override or sysfs_dir(rec.version)
    base = (f" (the rfc-default runs, {rec.base_version.upper()}: {s['objective_rfc']:.3f}, "
            f"{100 * s['hit_rate_rfc']:.2f}%)." if "objective_rfc" in s and rec.base_version
            else ".")
    lines = [
        "#!/bin/sh",
        f"# Recommended {thread_name(rec.version)} knobs from tiersweep run {rec.run!r} "
        f"({rec.mode}),",
        f"# point {rec.point!r}, patch version {rec.version.upper()}; selected by "
        f"{rec.selected_by}.",
        f"# Mean over the suite: objective {s['objective']:.3f}, hit rate "
        f"{100 * s['hit_rate']:.2f}%" + base,
        f"# {rec.version.upper()}'s thread is {thread_name(rec.version)}: its knobs are in "
        f"{sysfs_dir(rec.version)} (KMMSCAND_SYSFS overrides).",
        "set -e",
        f"SYSFS=\"${{KMMSCAND_SYSFS:-{directory}}}\"",
    ]
    sysfs = {k: v for k, v in rec.knobs.items() if knob_kind(k) == "sysfs"}
    if sysfs:
        for key, v in sysfs.items():
            lines.append(f"echo {shlex.quote(sysfs_value(v))} > \"$SYSFS/{SYSFS_KNOBS[key]}\""
                         f"   # {_default_note(key, rec)}")
    else:
        lines.append("# (no sysfs knob was varied in this run: nothing to write)")
    lines += _commented(rec, "compile-time", [
        "# Compile-time constants in the patches (or knobs only the simulator has);",
        "# change them in the kernel source and rebuild:"], lambda key: _default_note(key, rec))
    lines += _commented(rec, "proposed", [
        "# Proposed knobs: in no posted RFC version (V0-V3 drain the whole list,",
        "# unthrottled, without de-duplication); a kernel needs a patch for them:"],
        lambda key: f"the posted behaviour: {sysfs_value(rfc_default(key, rec.version))}")
    model = {k: v for k, v in rec.knobs.items() if knob_kind(k) == "model"}
    if model:
        lines.append("# Simulator parameters (not kernel settings), as evaluated:")
        for key, v in model.items():
            lines.append(f"#   {key} = {sysfs_value(v)}")
    return "\n".join(lines) + "\n"


def evidence_text(rec: Recommendation) -> str:
    """Per seed group and workload: objective with its 95% t interval over seeds,
    the RFC defaults' beside it, the paired difference and its verdict."""
    e = rec.evidence.copy()
    for c in ("objective_lo", "objective_hi", "objective_rfc_lo", "objective_rfc_hi", "diff",
              "diff_lo", "diff_hi", "verdict"):
        if c not in e:
            e[c] = math.nan if c != "verdict" else "-"
    out = pd.DataFrame({
        "seeds": e["seeds"], "workload": e["workload"], "n": e["n_seeds"],
        "objective [95%]": [format_ci(*r, ".3f") for r in zip(e["objective"], e["objective_lo"],
                                                 e["objective_hi"], strict=True)],
        "RFC [95%]": [format_ci(*r, ".3f") for r in zip(e["objective_rfc"], e["objective_rfc_lo"],
                                           e["objective_rfc_hi"], strict=True)],
        "minus RFC [95%]": [format_ci(*r, ".3f") for r in zip(e["diff"], e["diff_lo"], e["diff_hi"],
                                                 strict=True)],
        "verdict": e["verdict"].fillna("-"),
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
    regret: pd.DataFrame  # per workload (analysis.regret); empty without a comparison


def write_defaults(run_dir: str | Path, out_dir: str | Path | None = None,
                   sysfs_dir_override: str | None = None) -> DefaultsResult:
    run = load_run(run_dir)
    rec = recommend(run)
    out = Path(out_dir) if out_dir is not None else run.path
    y, sh = out / DEFAULTS_YAML, out / DEFAULTS_SH
    atomic.write_text(y, to_yaml(rec))
    atomic.write_text(sh, to_shell(rec, sysfs_dir_override))
    return DefaultsResult(rec, y, sh, rec.regret(with_points(run.trials)))


# ------------------------------------------------ the headline of a tuning run

HEADLINE_NAMES = {"none": "none", "numab2": "NUMAB2", "damon_tier": "DAMON tiering",
                  "rfc-default": "RFC defaults",
                  "recommended": "recommended", "kernel-settable": "kernel-settable",
                  "oracle": "oracle"}


def _cell(r: dict, name: str, spec: str) -> str:
    m = r.get(name, math.nan)
    if m is None or not math.isfinite(m):
        return "-"
    if r.get(f"{name}_det"):
        return f"{m:{spec}} deterministic"
    return format_ci(m, r.get(f"{name}_lo", math.nan), r.get(f"{name}_hi", math.nan), spec)


def headline_text(df: pd.DataFrame, metric: str) -> str:
    """Per workload: hit rate, CPU and the objective of each policy, mean [95% t
    interval] over its seeds, "deterministic" where every seed gives the same."""
    if df.empty:
        return ""
    lines = [f"{'workload':<13} {'policy':<16} {'seeds':<10} {'hit rate % [95%]':>30} "
             f"{'CPU % of one CPU [95%]':>30} {metric + ' [95%]':>32}"]
    prev = None
    for r in df.to_dict("records"):
        w = r["workload"] if r["workload"] != prev else ""
        prev = r["workload"]
        lines.append(f"{w:<13} {HEADLINE_NAMES.get(r['label'], r['label']):<16} "
                     f"{r['seeds']:<10} {_cell(r, 'hit', '.2f'):>30} "
                     f"{_cell(r, 'cpu', '.2f'):>30} {_cell(r, 'obj', '.3f'):>32}")
    return "\n".join(lines)


def provenance_text(rfc: dict[str, Any], rec: dict[str, Any], kernel: dict[str, Any] | None,
                    version: str) -> str:
    """Knob, where it exists, RFC default, recommendation, kernel-settable recommendation."""
    from harness.experiment.provenance import where

    lines = [f"{'knob':<32} {'where it exists':<30} {rfc_label(version):>16} "
             f"{'recommended':>12} {'kernel-settable':>16}"]
    for k in rec:
        kv = "-" if kernel is None else sysfs_value(kernel.get(k, "-"))
        lines.append(f"{k:<32} {where(k):<30} {sysfs_value(rfc.get(k, '-')):>16} "
                     f"{sysfs_value(rec[k]):>12} {kv:>16}")
    return "\n".join(lines)


def tuning_text(run_dir: str | Path) -> str:
    """The honest headline of a tuning run (``tune``'s end and ``defaults``): per
    workload the recommendation beside the RFC defaults and the baselines, in
    words what got better and worse, the top-k trials on study and holdout
    seeds, the knee beside the constrained winner, the kernel-settable
    recommendation and where each knob exists."""
    from harness.analysis.headline import headline_table, read_summary, verdicts
    from harness.analysis.runs import read_manifest

    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    choice = summary.get("choice") or {}
    if not choice:
        return ""
    from harness.run.store.layout import MANIFEST

    study = ((read_manifest(run_dir / MANIFEST) or {}).get("experiment") or {}).get("study") or {}
    bounds = dict(study.get("constraints") or {})
    metric = choice.get("metric", "objective")
    parts = []
    df = headline_table(run_dir, metric)
    if not df.empty:
        parts.append("per workload: mean [95% t interval] over each policy's seeds "
                     "(\"deterministic\": the same on every seed):\n"
                     + headline_text(df, metric))
        words = verdicts(df, bounds)
        if words:
            guard = ", ".join(f"{k} {v:g}" for k, v in bounds.items()) or "none"
            parts.append(f"recommended against the RFC defaults (guards: {guard}):\n  "
                         + "\n  ".join(words))
    top = choice.get("topk") or []
    if top:
        lines = [f"top trials on the study seeds and on the holdout seeds ({metric}; the "
                 "difference is the optimism of choosing on the study seeds):",
                 f"  {'trial':>6} {'kind':<16} {'study':>9} {'holdout':>9}  feasible (study/holdout)"]
        for r in top:
            lines.append(f"  {r['trial']:>6} {r['kind']:<16} {_num(r['study_value']):>9} "
                         f"{_num(r['holdout_value']):>9}  {r['study_feasible']}/"
                         f"{r['holdout_feasible']}")
        parts.append("\n".join(lines))
    rec, kern = choice.get("recommendation") or {}, choice.get("kernel")
    parts.append(f"recommended: trial {rec.get('trial')} ({choice.get('selected_by')}); "
                 f"holdout {metric} {_num(rec.get('holdout_value'))}")
    if kern:
        d = _f(rec.get("holdout_value")) - _f(kern.get("holdout_value"))
        parts.append(f"kernel-settable (proposed knobs at the kernel's behaviour): from trial "
                     f"{kern['trial']}, holdout {metric} {_num(kern.get('holdout_value'))}"
                     f"; the proposed knobs are worth {_num(d, '+.4f')}")
    kn = _knee_line(run_dir, rec)
    if kn:
        parts.append(kn)
    version = str(rec.get("params", {}).get("policy.version", "v1"))
    rfc = {k: rfc_default(k, version) for k in rec.get("params", {})}
    parts.append("where each knob exists:\n" + provenance_text(
        rfc, rec.get("params", {}), (kern or {}).get("params"), version))
    return "\n\n".join(parts)


def _f(v) -> float:
    return math.nan if v is None else float(v)


def _num(v, spec: str = ".4f") -> str:
    v = _f(v)
    return "-" if not math.isfinite(v) else format(v, spec)


def _knee_line(run_dir: Path, rec: dict) -> str:
    from harness.analysis.runs import load_run
    from harness.analysis.trial_points import trial_points

    try:
        tp = trial_points(load_run(run_dir))
    except Exception:  # noqa: BLE001 - no study, or no normalized values
        return ""
    if tp is None or tp.knee is None:
        return ""
    s = tp.suite.set_index("trial")

    def desc(n: int) -> str:
        r = s.loc[n]
        return (f"trial {n}: gain share {r['gain_share']:.3f}, CPU x{r['cost_rel']:.2f} of the "
                f"RFC defaults', hit {100 * r['hit_rate']:.2f}%, CPU {r['cpu_percent']:.2f}%")

    n = rec.get("trial")
    line = f"knee of the feasible front (study seeds, suite means): {desc(int(tp.knee))}"
    if n is not None and int(n) in s.index:
        line += f"\nconstrained winner beside it:                       {desc(int(n))}"
    return line
