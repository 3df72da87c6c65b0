"""docs/config-reference.md, written from the JSON Schemas of run config and
experiment files (``tiersweep schema --markdown``), so the page lists exactly
the fields, types, defaults and bounds the loader's types declare.

One table per object of each schema (the top level, then every definition in
the schema's order); a field that refers to another object links to its table.
"""

from __future__ import annotations

import json
from typing import Any

# The limits every number has in a config file (finite floats, integers that a
# float holds exactly): bounds this large are not a field's own, shown as blank.
_FORMAT_LIMITS = (1e15, 2.0**53)

HEADER = """\
# Configuration reference

Generated from the JSON Schemas (`tiersweep schema`, `tiersweep schema
--experiment`) by `tiersweep schema --markdown > docs/config-reference.md`;
`tests/config/test_config_reference.py` fails when this page and the schemas
differ. Bounds are inclusive; a blank bound is only the file format's limit
(every number finite, integers at most 2^53). The loader also checks rules
between fields that a schema cannot state (its message names the field).
"""


def _anchor(name: str) -> str:
    return "-".join(name.lower().split())


def _is_limit(x: float) -> bool:
    return any(abs(x) >= lim for lim in _FORMAT_LIMITS)


def _type(s: dict[str, Any], prefix: str) -> str:
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(_OWNER.get(name, prefix) + name)})"
    if "enum" in s:
        return " or ".join(f"`{json.dumps(v)}`" for v in s["enum"])
    if "const" in s:
        return f"`{json.dumps(s['const'])}`"
    for key in ("anyOf", "oneOf"):
        if key in s:
            return " or ".join(_type(x, prefix) for x in s[key])
    t = s.get("type", "any")
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array":
        inner = _type(s["items"], prefix) if "items" in s else "any"
        return f"list of {inner}"
    if t == "object" and isinstance(s.get("additionalProperties"), dict):
        return f"mapping of {_type(s['additionalProperties'], prefix)}"
    return t


def _bounds(s: dict[str, Any]) -> str:
    parts = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"),
                      ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in s and not _is_limit(s[key]):
            parts.append(f"{sign} {s[key]:g}")
    for key, sign in (("minItems", "at least"), ("maxItems", "at most")):
        if key in s:
            parts.append(f"{sign} {s[key]} items")
    for sub in s.get("anyOf", []) + s.get("oneOf", []):
        b = _bounds(sub)
        if b:
            parts.append(b)
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(name: str, obj: dict[str, Any], prefix: str) -> list[str]:
    lines = [f'<a id="{_anchor(prefix + name)}"></a>', f"### {name}", ""]
    if obj.get("description"):
        lines += [_cell(obj["description"]), ""]
    required = set(obj.get("required", []))
    lines += ["| field | type | default | bounds | description |", "|---|---|---|---|---|"]
    for field, s in obj.get("properties", {}).items():
        default = ("required" if field in required
                   else f"`{json.dumps(s['default'])}`" if "default" in s else "")
        lines.append(f"| `{field}` | {_cell(_type(s, prefix))} | {_cell(default)} | "
                     f"{_cell(_bounds(s))} | {_cell(s.get('description', ''))} |")
    return lines + [""]


# Definition name -> the prefix of the section that shows its table (an
# experiment file's RunConfig parts are the run config's, shown once).
_OWNER: dict[str, str] = {}


def _schema_section(title: str, schema: dict[str, Any], prefix: str,
                    shown: dict[str, Any]) -> list[str]:
    lines = [f"## {title}", ""]
    lines += _table(schema.get("title", "top level"), schema, prefix)
    for name, obj in schema.get("$defs", {}).items():
        if shown.get(name) == obj:
            continue
        _OWNER[name] = prefix
        lines += _table(name, obj, prefix)
    return lines


def config_reference_markdown() -> str:
    """The whole page, as committed in docs/config-reference.md."""
    from harness.config.json_schema import run_config_schema
    from harness.experiment.load import experiment_schema

    run, experiment = run_config_schema(), experiment_schema()
    _OWNER.clear()
    lines = [HEADER]
    lines += _schema_section("Run config files", run, "run-", {})
    lines += _schema_section("Experiment files", experiment, "experiment-", run["$defs"])
    return "\n".join(lines).rstrip() + "\n"
