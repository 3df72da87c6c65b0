"""`tiersweep schema`: every shipped run config (and, with --experiment, every
shipped experiment file) passes it; a typo'd key and a
value past a bound do not (what an editor would underline as it is typed)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from harness.config.json_schema import run_config_schema
from harness.config.raw import load_yaml
from harness.experiment.load import experiment_schema
from tests.config.test_mutations import EXPERIMENTS, RUN_CONFIGS
from tests.conftest import REPO

SCHEMA = run_config_schema()
EXPERIMENT_SCHEMA = experiment_schema()


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_shipped_run_configs_pass_the_schema(path):
    jsonschema.validate(load_yaml(path), SCHEMA)


@pytest.mark.parametrize("bad", [
    {"workload": {"kind": "zipf", "size_gb": 4, "zipf_sx": 1.0}},  # unknown key
    {"policy": {"scan_sise_mb": 1}},
    {"workload": {"size_gb": 2.0**30}},  # past 1 PiB
    {"policy": {"version": "v9"}},
])
def test_the_schema_underlines_what_the_loader_refuses(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_cli_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "harness", "schema"], capture_output=True,
                         text=True, cwd=REPO, check=True).stdout
    assert json.loads(out)["title"] == "tiersweep run config"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_shipped_experiment_files_pass_the_experiment_schema(path):
    jsonschema.validate(load_yaml(path), EXPERIMENT_SCHEMA)


@pytest.mark.parametrize("bad", [
    {"study": {"trails": 5}},  # unknown key
    {"seeds": [1.5]},
    {"base": {"policy": {"scan_sise_mb": 1}}},  # the inline base is a run config
    {"study": {"timeout_s": 1e300}},
])
def test_the_experiment_schema_underlines_what_the_loader_refuses(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, EXPERIMENT_SCHEMA)


def test_cli_prints_the_experiment_schema():
    out = subprocess.run([sys.executable, "-m", "harness", "schema", "--experiment"],
                         capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert json.loads(out)["title"] == "tiersweep experiment"
