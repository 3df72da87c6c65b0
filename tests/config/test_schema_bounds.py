"""The JSON Schema's bounds are the validator's: every numeric field of a run
config, at and just past each edge the schema states, and at ordinary values
(-1, 0, 0.5, 1, ...), is accepted by the loader exactly when the schema allows it.

A bound written only in a dataclass's own checks (and not in the field's type)
fails here: the schema would allow a value the loader refuses."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest

from harness.config import schema as s
from harness.config.json_schema import run_config_schema
from harness.config.loader import type_adapter
from harness.errors import ConfigError

# Where each section sits in a run config mapping.
SECTIONS = {s.RunConfig: (), s.PlatformConfig: ("platform",),
            s.NodeConfig: ("platform", "nodes", 0), s.WorkloadConfig: ("workloads", 0),
            s.PolicyConfig: ("policy",), s.CostConfig: ("costs",),
            s.RuntimeConfig: ("runtime",)}
# Fields also checked against another field (a value inside the schema's range
# can still be refused for that relation): only past the edges for these.
RELATED = {("PlatformConfig", "wmark_high_pct"), ("PlatformConfig", "wmark_promo_pct"),
           ("NodeConfig", "id"),  # the policy's target node must stay a fast node
           ("WorkloadConfig", "exit_s"), ("WorkloadConfig", "scale_to_gb"),  # trace kind only
           ("PolicyConfig", "scan_period_min_ms"), ("PolicyConfig", "scan_period_max_ms"),
           ("PolicyConfig", "scan_size_min_mb"), ("PolicyConfig", "scan_size_max_mb"),
           ("PolicyConfig", "target_node"),
           ("PolicyConfig", "numab_scan_period_min_ms"), ("PolicyConfig", "numab_scan_period_max_ms"),
           ("PolicyConfig", "damon_sample_us"), ("PolicyConfig", "damon_aggr_us"),
           ("PolicyConfig", "damon_min_nr_regions"), ("PolicyConfig", "damon_max_nr_regions"),
           ("PolicyConfig", "damon_min_sample_us"), ("PolicyConfig", "damon_max_sample_us")}
ORDINARY = (-1, -0.5, 0, 0.5, 1, 2, 10, 100)


def numeric_fields():
    for cls, where in SECTIONS.items():
        props = type_adapter(cls).json_schema()["properties"]
        for f in dataclasses.fields(cls):
            prop = props[f.name]
            arms = [a for a in prop.get("anyOf", [prop]) if a.get("type") != "null"]
            if len(arms) == 1 and arms[0].get("type") in ("integer", "number"):
                yield pytest.param(cls, where, f.name, arms[0], id=f"{cls.__name__}.{f.name}")


def allowed(arm: dict, v: float) -> bool:
    if "enum" in arm:
        return v in arm["enum"]
    return (v >= arm.get("minimum", -math.inf) and v > arm.get("exclusiveMinimum", -math.inf)
            and v <= arm.get("maximum", math.inf) and v < arm.get("exclusiveMaximum", math.inf))


def probes(arm: dict) -> list[float]:
    integer = arm["type"] == "integer"
    out = set(ORDINARY)
    if "enum" in arm:
        out |= {x + d for x in arm["enum"] for d in (-1, 0, 1)}
    for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        if key in arm:
            b = arm[key]
            out |= {b - 1, b, b + 1} if integer else {math.nextafter(b, -math.inf), b,
                                                      math.nextafter(b, math.inf)}
    if integer:
        out = {int(v) for v in out if float(v).is_integer()}
    return sorted(out)


def load_with(where: tuple, name: str, value):
    raw = copy.deepcopy(s.RunConfig().to_dict())
    node = raw
    for key in where:
        node = node[key]
    node[name] = value
    return s.from_dict(raw, "test")


@pytest.mark.parametrize(("cls", "where", "name", "arm"), list(numeric_fields()))
def test_schema_bounds_are_the_validators(cls, where, name, arm):
    related = (cls.__name__, name) in RELATED
    for v in probes(arm):
        if allowed(arm, v):
            if not related:
                load_with(where, name, v)  # raises if the loader refuses
        else:
            with pytest.raises(ConfigError, match=rf"\b{name}: expected"):
                load_with(where, name, v)


def test_the_walk_covers_the_fields_with_a_range():
    """The bounds reached the generated file schema, e.g. capacity_gb > 0."""
    node = run_config_schema()["$defs"]["NodeConfig"]["properties"]["capacity_gb"]
    assert node["exclusiveMinimum"] == 0
    names = {p.values[2] for p in numeric_fields()}
    assert {"capacity_gb", "scan_size_mb", "a_bit_miss", "page_size_kb", "kswapd_scan_ns",
            "thread_quantum_us", "duration_s"} <= names
