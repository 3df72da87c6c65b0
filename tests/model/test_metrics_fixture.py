"""Speed work must not change results: the shipped configs' full metrics and
time series against the fixture recorded before it (tests/fixtures/metrics.json,
rewritten only in a commit of its own by `python -m tests.fixtures.metrics_cases`)."""

from __future__ import annotations

import json
import math

import pytest

from tests.fixtures.metrics_cases import FIXTURE, cases, run_case

_RECORDED = json.loads(FIXTURE.read_text())


def _same(a, b) -> bool:
    # Counters and strings exactly; floats to 1e-12 relative, the room a
    # reordered float sum needs (nothing a model change could hide in).
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return type(a) is type(b) and a == b


def test_fixture_lists_every_case():
    assert sorted(_RECORDED) == sorted(name for name, _, _ in cases())


@pytest.mark.parametrize(("name", "path", "overrides"), cases(), ids=[c[0] for c in cases()])
def test_metrics_match_fixture(name, path, overrides):
    got, want = run_case(path, overrides), _RECORDED[name]
    bad = [k for k in want["metrics"] if not _same(got["metrics"].get(k), want["metrics"][k])]
    assert not bad, {k: (got["metrics"].get(k), want["metrics"][k]) for k in bad}
    assert sorted(got["metrics"]) == sorted(want["metrics"])
    assert sorted(got["timeseries"]) == sorted(want["timeseries"])
    for k, col in want["timeseries"].items():
        assert len(got["timeseries"][k]) == len(col), k
        assert all(_same(x, y) for x, y in zip(got["timeseries"][k], col, strict=True)), k
