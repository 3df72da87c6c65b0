"""Experiment files for harness tests: a tiny two-workload suite on zipf.yaml."""

from tests.conftest import CONFIGS


def tiny_suite(name: str, sweep: str) -> str:
    """A 0.25 GiB, 6 s, two-workload (zipf, hotset), two-seed experiment named
    `name`, with `sweep` (YAML lines, indented two spaces) as its sweep section."""
    return f"""
name: {name}
base: {CONFIGS / "zipf.yaml"}
set:
  duration_s: 6
  sample_ms: 2000
  workload: {{size_gb: 0.25, placement: slow}}
  platform: {{nodes: [{{id: 0, tier: fast, capacity_gb: 0.0625}},
                     {{id: 1, tier: slow, capacity_gb: 0.5}}]}}
suite:
  zipf: {{workload: {{kind: zipf}}}}
  hotset: {{workload: {{kind: hotset, move_every_s: 2}}}}
seeds: [1, 2]
sweep:
{sweep}"""
