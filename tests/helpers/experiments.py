"""Experiment files for harness tests: a tiny two-workload suite on zipf.yaml."""

from tests.conftest import CONFIGS


def tiny_header(name: str, duration_s: float = 6, seeds=(1, 2), holdout_seeds=(),
                policy: str = "") -> str:
    """The tiny suite's experiment file up to its sweep or study section: 0.25
    GiB (a quarter on the fast tier), `duration_s`, zipf and hotset, `seeds`,
    `holdout_seeds`; `policy` (a YAML flow mapping) sets the base policy."""
    policy_line = f"  policy: {policy}\n" if policy else ""
    return f"""
name: {name}
base: {CONFIGS / "zipf.yaml"}
set:
  duration_s: {duration_s}
  sample_ms: 2000
  workload: {{size_gb: 0.25, placement: slow}}
  platform: {{nodes: [{{id: 0, tier: fast, capacity_gb: 0.0625}},
                     {{id: 1, tier: slow, capacity_gb: 0.5}}]}}
{policy_line}suite:
  zipf: {{workload: {{kind: zipf}}}}
  hotset: {{workload: {{kind: hotset, move_every_s: 2}}}}
seeds: {list(seeds)}
holdout_seeds: {list(holdout_seeds)}
"""


def tiny_suite(name: str, sweep: str) -> str:
    """A 0.25 GiB, 6 s, two-workload (zipf, hotset), two-seed experiment named
    `name`, with `sweep` (YAML lines, indented two spaces) as its sweep section."""
    return tiny_header(name) + "sweep:\n" + sweep


def tiny_study(name: str, study: str, duration_s: float = 6, holdout: bool = False,
               metric: str = "objective") -> str:
    """The tiny suite at `duration_s` with a small study: three knobs, the plain
    objective, and `study` (YAML lines, indented two spaces) added to it."""
    return tiny_header(name, duration_s, holdout_seeds=[3] if holdout else [],
                       policy="{kind: kmmscand, version: v1}") + f"""study:
  space:
    policy.scan_size_mb: {{type: int, low: 16, high: 1024, log: true}}
    policy.scan_period_ms: {{type: int, low: 200, high: 4000, log: true}}
    policy.migrate_sleep_ms: {{type: int, low: 1, high: 200, log: true}}
  objectives: [{{metric: {metric}, direction: maximize}}]
  sampler: tpe
  seed: 0
{study}"""
