"""Run configuration: YAML -> frozen, validated dataclasses.

- ``schema``: the dataclasses (RunConfig and its sections) and ``from_dict``;
- ``loader``: the generic typed build from plain mappings (also used by the
  experiment loader);
- ``raw``: YAML files, ``extends``, dotted-path overrides on raw mappings;
- ``files``: ``load_config``, a run config file with overrides;
- ``kmmscand_versions``: kmmscand's per-version defaults.

Every error names the file and the dotted field path.
"""

from harness.config.files import load_config, resolve_paths
from harness.config.kmmscand_versions import VERSION_DEFAULTS
from harness.config.raw import deep_merge, load_yaml, load_yaml_extends, parse_override, set_path
from harness.config.schema import (
    GIB,
    MIB,
    CostConfig,
    NodeConfig,
    Placement,
    PlatformConfig,
    PolicyConfig,
    PolicyKind,
    RunConfig,
    RuntimeConfig,
    Tier,
    Version,
    WorkloadConfig,
    WorkloadKind,
    from_dict,
)

__all__ = [
    "GIB", "MIB", "VERSION_DEFAULTS", "CostConfig", "NodeConfig", "Placement", "PlatformConfig",
    "PolicyConfig", "PolicyKind", "RunConfig", "RuntimeConfig", "Tier", "Version",
    "WorkloadConfig", "WorkloadKind", "deep_merge", "from_dict", "load_config", "load_yaml",
    "load_yaml_extends", "parse_override", "resolve_paths", "set_path",
]
