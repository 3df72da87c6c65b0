"""Bad config input gets one clean line: no NaN,
infinity or integer past 2^53 anywhere, no YAML aliases, duplicate keys or
non-text files, and no footprint the model could not hold in this machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.config import load_config
from harness.errors import ConfigError
from harness.model import build_layout
from harness.model.workloads import MODEL_BYTES_PER_PAGE, physical_memory_bytes
from tests.conftest import CONFIGS, REPO

ZIPF = CONFIGS / "zipf.yaml"


@pytest.mark.parametrize("field", [
    "duration_s", "workload.size_gb", "platform.nodes.0.capacity_gb",
    "policy.migrate_rate_limit_mbps", "costs.scan_pte_ns", "workload.access_rate",
    "workload.zipf_s", "runtime.think_us"])
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_refused(field, value):
    with pytest.raises(ConfigError, match="expected a finite number") as err:
        load_config(ZIPF, [f"{field}={value}"])
    assert field.split(".")[-1] in str(err.value)


@pytest.mark.parametrize("field", ["policy.scan_size_mb", "sample_ms", "seed"])
def test_integers_past_2_53_are_refused(field):
    with pytest.raises(ConfigError, match=r"at most 2\^53"):
        load_config(ZIPF, [f"{field}=1.0e+30"])


def test_a_footprint_past_this_machines_memory_is_refused_before_allocating():
    gb = physical_memory_bytes() / MODEL_BYTES_PER_PAGE * 4096 / 2**30 * 2
    cfg = load_config(ZIPF, [f"workload.size_gb={gb:.1f}",
                             f"platform.nodes.1.capacity_gb={2 * gb:.1f}"])
    with pytest.raises(ConfigError, match=r"workloads\[0\]\.size_gb: .* GiB for the model"):
        build_layout(cfg)


def test_yaml_aliases_are_refused_with_the_line(tmp_path):
    # A "billion laughs" under 2 KB: refused at its first alias, nothing expanded.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    assert f.stat().st_size <= 2048
    with pytest.raises(ConfigError, match=r"bomb.yaml: line 2: YAML aliases"):
        load_config(f)


def test_duplicate_keys_are_refused_with_the_line(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("seed: 1\nduration_s: 10\nseed: 2\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: line 3: duplicate key 'seed'"):
        load_config(f)


@pytest.mark.parametrize("content", [b"\x7fELF\x02\x01\x01\x00\x00", b"seed: \xff\xfe\n"])
def test_binary_files_are_refused(tmp_path, content):
    f = tmp_path / "bin.yaml"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match="not a text file"):
        load_config(f)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


@pytest.mark.parametrize("override", ["duration_s=.nan", "workload.size_gb=1.0e+9"])
def test_cli_exits_2_with_one_line(override):
    r = subprocess.run([sys.executable, "-m", "harness", "simulate", str(ZIPF), "--set", override],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


# The typed build is pydantic's (loader.py): no coercion of text to numbers or
# of numbers to booleans, and every error still one line naming the field.
@pytest.mark.parametrize("override,needle", [
    ("seed='5'", "seed: expected an integer, got '5'"),
    ("seed=true", "seed: expected an integer, got True"),
    ("seed=1.5", "seed: expected an integer, got 1.5"),
    ("policy.adapt=1", "policy.adapt: expected true or false, got 1"),
    ("policy.adapt='true'", "policy.adapt: expected true or false, got 'true'"),
    ("policy.hot_check=x", "policy.hot_check: expected true or false, got 'x'"),
    ("duration_s='60'", "duration_s: expected a number, got '60'"),
    ("duration_s=1.0e+8", "duration_s: expected at most 1e7 s (116 days), got 100000000.0"),
    ("workload.size_gb=2.0e+6", "workloads[0].size_gb: expected at most 1 PiB"),
    ("workload.zipf_sx=1", "workloads[0].zipf_sx: unknown field; did you mean zipf_s?"),
    ("platform.nodes=5", "platform.nodes: expected a list, got 5"),
    ("policy=5", "policy: expected a mapping, got 5"),
])
def test_the_typed_build_is_strict_and_names_the_field(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(ZIPF, [override])
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_a_whole_float_is_an_integer_and_numbers_stay_as_written():
    from harness.experiment.space import parse_space

    assert load_config(ZIPF, ["seed=7.0"]).seed == 7
    assert isinstance(load_config(ZIPF, ["seed=7.0"]).seed, int)
    p, q = parse_space({"a.b": {"type": "float", "low": 1, "high": 5.0},
                        "c.d": {"type": "int", "low": 2, "high": 8}}, "study.space")
    # The repr of a space is part of a run directory's fingerprint.
    assert (type(p.low), type(p.high), type(q.low)) == (int, float, int)
