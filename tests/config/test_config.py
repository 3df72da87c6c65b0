"""Config loading: validation errors name the file and the field path."""

import subprocess
import sys

import pytest

from harness.config import VERSION_DEFAULTS, from_dict, load_config
from harness.errors import ConfigError

# The tests name shipped files as a user types them (configs/zipf.yaml).
pytestmark = pytest.mark.usefixtures("in_repo")


def test_shipped_configs_load():
    for name in ("uniform", "zipf", "hotset"):
        cfg = load_config(f"configs/{name}.yaml")
        assert cfg.workloads[0].kind == name
        assert cfg.policy.scan_period_ms == 2000  # V1 default resolved


def test_override_applies_and_types(tmp_path):
    cfg = load_config("configs/zipf.yaml", ["policy.scan_size_mb=512", "policy.version=v3"])
    assert cfg.policy.scan_size_mb == 512
    assert cfg.policy.second_access is True
    assert cfg.policy.scan_sleep_ms == 20


@pytest.mark.parametrize("override,needle", [
    ("policy.scan_sise_mb=1", "policy.scan_sise_mb: unknown field"),
    ("policy.version=v9", "policy.version: expected one of"),
    ("workload.size_gb=-1", "workloads[0].size_gb: expected a size > 0"),
    ("platform.nodes.0.capacity_gb=abc", "platform.nodes[0].capacity_gb: expected a number"),
    ("policy.target_node=1", "policy.target_node: expected a fast-tier node id"),
])
def test_bad_field_names_path(override, needle):
    with pytest.raises(ConfigError) as exc:
        load_config("configs/zipf.yaml", [override])
    msg = str(exc.value)
    assert msg.startswith(f"override {override}: ")  # the override, not the file, is to blame
    assert needle in msg
    assert "\n" not in msg


def test_cli_bad_field_exit_code_2():
    r = subprocess.run([sys.executable, "-m", "harness", "simulate", "configs/zipf.yaml",
                        "--set", "policy.migrate_batch=-5"], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--set policy.migrate_batch=-5: policy.migrate_batch: expected pages >= 0" in lines[0]
    assert r.stdout == ""


def test_bad_yaml_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("seed: 1\npolicy: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+: not valid YAML"):
        load_config(p)


def test_missing_required_field_names_it():
    with pytest.raises(ConfigError) as exc:
        from_dict({"platform": {"nodes": [{"tier": "fast", "capacity_gb": 1}]}}, "x.yaml")
    assert str(exc.value) == "x.yaml: platform.nodes[0].id: missing; this field is required"


def test_override_errors_name_their_source_not_a_flag():
    # Library code names no flag; the command passes its own (simulate: --set).
    with pytest.raises(ConfigError, match=r"^override: 'x': expected KEY=VALUE"):
        load_config("configs/zipf.yaml", ["x"])
    with pytest.raises(ConfigError, match=r"^--set: 'x': expected KEY=VALUE"):
        load_config("configs/zipf.yaml", ["x"], override_source="--set")
    r = subprocess.run([sys.executable, "-m", "harness", "simulate", "configs/zipf.yaml",
                        "--set", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "--set: 'x': expected KEY=VALUE" in r.stderr


@pytest.mark.parametrize("version", sorted(VERSION_DEFAULTS))
def test_unset_knobs_take_their_version_defaults(version):
    pol = from_dict({"policy": {"version": version}}).policy
    for name, value in VERSION_DEFAULTS[version].items():
        assert getattr(pol, name) == value, name
    assert pol.second_access == (version == "v3")
    assert from_dict({"policy": {"version": version, "scan_sleep_ms": 7}}).policy.scan_sleep_ms == 7
