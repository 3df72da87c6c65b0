"""`tiersweep schema`: the JSON Schema of run-config YAML files, for editors."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a run config file (for editors)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.config.json_schema import run_config_schema

    print(json.dumps(run_config_schema(), indent=2))
    return 0
