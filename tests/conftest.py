"""Shared test fixtures: the repository's paths, a YAML writer, the policy
registry as a parametrization, and one local Ray session per test module.

Paths are absolute (``REPO``, ``CONFIGS``), so the suite does not depend on
the directory pytest runs from.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.model import POLICIES

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def parametrize_policy(*, exclude: tuple[str, ...] = (), argname: str = "policy"):
    """Every registered policy (``harness.model.POLICIES``) but `exclude`: a new
    policy enters each property test that uses this by itself."""
    return pytest.mark.parametrize(argname, [p for p in POLICIES if p not in exclude])


@pytest.fixture(autouse=True, scope="session")
def _from_the_repository():
    """Relative paths in tests and in the commands they run (configs/...,
    tests/fixtures/...) resolve from the repository, wherever pytest starts."""
    os.chdir(REPO)


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """``write_yaml(text, name="config.yaml")``: the dedented text as a file in
    the test's tmp_path; returns its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return p

    return write


@pytest.fixture(scope="module")
def ray_backend():
    """One local Ray session (2 CPUs, no dashboard, 127.0.0.1) per test module."""
    from tests.helpers.sessions import ray_backend as start

    backend = start(cpus=2)  # retries a slow start
    yield backend
    backend.close()
