"""JSON Schemas of the YAML files (run configs), for editors that check and
complete YAML as it is typed (yaml-language-server's `$schema` comment).

Generated from the config dataclasses by pydantic's TypeAdapter (no second
copy of the fields), then adjusted to the file format: unknown keys are
refused (as the loader does), `workload:` stands for a one-entry `workloads:`
list, `extends:` names a file merged underneath, and the fields' upper bounds
are added. The loader stays the authority on values (its checks cover more
than a schema can say)."""

from __future__ import annotations

import dataclasses
from typing import Any


def _tighten(defs: dict[str, Any], classes: dict[str, type]) -> None:
    for name, d in defs.items():
        if d.get("type") == "object":
            d["additionalProperties"] = False
        cls = classes.get(name)
        if cls is None:
            continue
        for f in dataclasses.fields(cls):
            top = f.metadata.get("max")
            prop = d.get("properties", {}).get(f.name)
            if top is not None and prop is not None:
                prop["maximum"] = top


def run_config_schema() -> dict[str, Any]:
    """The JSON Schema of a run config file."""
    from pydantic import TypeAdapter

    from harness.config import schema as s

    out = TypeAdapter(s.RunConfig).json_schema()
    classes = {c.__name__: c for c in (s.NodeConfig, s.PlatformConfig, s.WorkloadConfig,
                                       s.PolicyConfig, s.CostConfig, s.RuntimeConfig)}
    _tighten(out["$defs"], classes)
    _tighten({"RunConfig": out}, {"RunConfig": s.RunConfig})
    props = out["properties"]
    props["workload"] = {"$ref": "#/$defs/WorkloadConfig",
                         "description": "one workload (instead of a workloads list)"}
    props["extends"] = {"type": "string",
                        "description": "a config file merged underneath, relative to this one"}
    out["title"] = "tiersweep run config"
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out
