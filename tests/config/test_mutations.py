"""Every shipped config and experiment file, one field
mutated (NaN, infinities, huge, negative, zero, wrong type, unknown key,
missing key): the run either ends with finite metrics or is refused with one
clean line (the CLI's exit 2), never a traceback. Runs are cut to 2 simulated
seconds and a quarter of the footprint so that the test stays short."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.config import load_config
from harness.config.raw import load_yaml
from harness.errors import TiersweepError
from harness.experiment import load_experiment
from harness.model import simulate
from tests.conftest import CONFIGS

RUN_CONFIGS = sorted(p for p in [*CONFIGS.glob("*.yaml"), *CONFIGS.glob("abench/*.yaml")]
                     if "suite" not in p.name and "study" not in p.name
                     and "sweep" not in p.name and p.name not in ("machine.yaml",
                                                                  "calibrated.yaml"))
EXPERIMENTS = sorted(p for p in CONFIGS.glob("*.yaml")
                     if "suite" in p.name or "study" in p.name or "sweep" in p.name)
MUTATIONS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "huge": 1e300,
             "huge_int": 2**62, "negative": -1, "zero": 0, "text": "x", "list": [1]}
# Metrics that are NaN by design (open loop, no completion; never reaching 90 %).
NAN_OK = {"completion_s", "all_fast_s", "slowdown", "runtime_penalty_s", "runtime_stall_s",
          "time_to_90pct_s"}


def leaves(raw, prefix=()):
    """Key paths (tuples: keys may hold dots) of the scalar leaves of a raw mapping."""
    items = raw.items() if isinstance(raw, dict) else enumerate(raw)
    for k, v in items:
        path = (*prefix, k)
        if isinstance(v, dict | list) and v:
            yield from leaves(v, path)
        elif not isinstance(v, dict | list):
            yield path


def mutate(raw, path, how):
    node, owner = raw, raw  # owner: the innermost mapping on the path
    for p in path[:-1]:
        node = node[p]
        if isinstance(node, dict):
            owner = node
    last = path[-1]
    if how == "missing":
        node.pop(last)
    elif how == "unknown":  # on a list item, in the mapping that holds the list
        owner[f"{last if isinstance(node, dict) else path[-2]}_typo"] = 1
    else:
        node[last] = MUTATIONS[how]


def anchor(raw: dict, where: Path) -> dict:
    """The file's relative paths made absolute (the mutant is written elsewhere)."""
    for key in ("extends", "base"):
        if isinstance(raw.get(key), str) and not raw[key].startswith("/"):
            raw[key] = str(where / raw[key])
    w = raw.get("workload")
    if isinstance(w, dict) and isinstance(w.get("path"), str) and not w["path"].startswith("/"):
        w["path"] = str(where / w["path"])
    return raw


def one_line(exc: TiersweepError) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg


def _mutant(tmp_path, case) -> Path:
    """The case's file with its field mutated, written where its relative
    paths still resolve (made absolute)."""
    path, field, how = case
    raw = anchor(load_yaml(path), path.parent)
    mutate(raw, field, how)
    f = tmp_path / path.name
    f.write_text(yaml.safe_dump(raw))
    return f


def _cases(files):
    return st.sampled_from(files).flatmap(lambda f: st.tuples(
        st.just(f), st.sampled_from(list(leaves(load_yaml(f)))),
        st.sampled_from([*MUTATIONS, "missing", "unknown"])))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_cases(RUN_CONFIGS))
def test_mutated_run_configs_run_clean_or_are_refused_in_one_line(tmp_path, case):
    try:
        cfg = load_config(_mutant(tmp_path, case))
        short = {"duration_s": min(cfg.duration_s, 2.0)}
        short.update({f"workloads.{i}.size_gb": w.size_gb / 4
                      for i, w in enumerate(cfg.workloads) if w.kind not in ("counts", "trace")})
        m = simulate(cfg.replace(short)).metrics
    except TiersweepError as exc:
        one_line(exc)
        event("refused")
        return
    event("ran")
    bad = {k: v for k, v in m.items() if isinstance(v, float) and k not in NAN_OK
           and not math.isfinite(v)}
    assert not bad, (case, bad)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_cases(EXPERIMENTS))
def test_mutated_experiments_load_clean_or_are_refused_in_one_line(tmp_path, case):
    try:
        exp = load_experiment(_mutant(tmp_path, case))
        for w in exp.workloads:
            exp.run_config(w, exp.seeds[0], {})
    except TiersweepError as exc:
        one_line(exc)


def test_the_file_lists_are_not_empty():
    assert RUN_CONFIGS and EXPERIMENTS
    assert all(list(leaves(load_yaml(p))) for p in RUN_CONFIGS + EXPERIMENTS)


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_shipped_run_configs_load(path):
    load_config(path)
