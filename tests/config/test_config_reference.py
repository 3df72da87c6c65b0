"""docs/config-reference.md is the page the schemas generate, and the generator
renders what a schema says (types, defaults, bounds, links between tables)."""

from __future__ import annotations

import re

from harness.tools import config_reference as ref
from tests.conftest import REPO

PAGE = REPO / "docs" / "config-reference.md"


def test_the_committed_page_is_the_generated_one():
    """Regenerate with `tiersweep schema --markdown > docs/config-reference.md`."""
    assert PAGE.read_text() == ref.config_reference_markdown()


def test_every_link_of_the_page_names_a_table_on_it():
    text = ref.config_reference_markdown()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= anchors, links - anchors


def test_a_field_row_shows_its_type_default_and_own_bounds():
    obj = {"properties": {
        "scan_size_mb": {"type": "integer", "default": 1024, "minimum": 1,
                         "maximum": 2**53, "description": "pages a visit scans | MiB"},
        "tier": {"enum": ["fast", "slow"]},
        "rate": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}],
                 "default": None},
        "nodes": {"type": "array", "items": {"$ref": "#/$defs/NodeConfig"}},
    }, "required": ["tier"]}
    rows = {line.split("|")[1].strip(): line for line in ref._table("T", obj, "run-")
            if line.startswith("| `")}
    assert rows["`scan_size_mb`"] == ("| `scan_size_mb` | integer | `1024` | >= 1 | "
                                      "pages a visit scans \\| MiB |")
    assert rows["`tier`"] == '| `tier` | `"fast"` or `"slow"` | required |  |  |'
    assert rows["`rate`"] == "| `rate` | number or null | `null` | > 0 |  |"
    assert "list of [NodeConfig](#run-nodeconfig)" in rows["`nodes`"]
