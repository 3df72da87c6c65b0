"""`tiersweep schema`: the JSON Schema of run-config or experiment YAML files,
for editors."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a run config file (for editors)")
    p.add_argument("--experiment", action="store_true",
                   help="the schema of an experiment file (sweep, tune, compare) instead")
    p.add_argument("--markdown", action="store_true",
                   help="both schemas as the Markdown page docs/config-reference.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.config.json_schema import run_config_schema
    from harness.experiment.load import experiment_schema

    if args.markdown:
        from harness.tools.config_reference import config_reference_markdown

        print(config_reference_markdown(), end="")
        return 0
    schema = experiment_schema() if args.experiment else run_config_schema()
    print(json.dumps(schema, indent=2))
    return 0
