"""Shared test fixtures: the repository's paths, a YAML writer, the policy
registry as a parametrization, and one local Ray session per test module.

Paths are absolute (``REPO``, ``CONFIGS``), so the suite does not depend on
the directory pytest runs from; a test that uses relative paths asks for the
``in_repo`` fixture. Importing this module changes nothing.
"""

from __future__ import annotations

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


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository as the working directory for one test (restored after it),
    for tests that name files the way a user types them (``configs/zipf.yaml``)
    and for the commands they run; returns ``REPO``. Tests that do not ask for it
    run from wherever pytest started."""
    monkeypatch.chdir(REPO)
    return REPO


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
