"""Scaled traces: each traced page a run of k pages sharing its accesses keeps
the hot-set share and the reuse-distance histogram (in units of k pages)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import GIB, WorkloadConfig
from harness.config.schema import from_dict
from harness.model.workloads import build_layout
from harness.traces import load_trace_counts
from harness.traces.scaling import (
    ScaledTrace,
    hot_share,
    reuse_distances,
    reuse_histogram,
    run_length,
    scale_counts,
)
from tests.conftest import REPO

SQLITE = REPO / "configs" / "real" / "sqlite-query.parquet"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERSWEEP_CACHE", str(tmp_path / "cache"))


def skewed_counts(seed: int, windows: int = 12, pages: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hot = rng.random(pages) ** 4
    return rng.poisson(hot[None, :] * rng.uniform(0.2, 30, size=(windows, 1)))


def test_reuse_distance_small_example():
    # Page 0 in windows 0 and 2, page 1 in window 1, page 2 in window 2.
    c = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    # Page 0's reuse spans windows 0..2: pages 0, 1, 2 touched.
    assert reuse_distances(c).tolist() == [3]
    assert reuse_distances(scale_counts(c, 4)).tolist() == [12] * 4


@pytest.mark.parametrize("k", [2, 5, 16])
@pytest.mark.parametrize("seed", [1, 2])
def test_scaling_keeps_hot_share_and_reuse_histogram(seed, k):
    c = skewed_counts(seed)
    s = scale_counts(c, k)
    assert s.shape == (c.shape[0], c.shape[1] * k)
    for f in (0.01, 0.05, 0.1, 0.25, 0.5):
        assert np.isclose(hot_share(s, f), hot_share(c, f))
    assert np.allclose(reuse_histogram(s, unit=k), reuse_histogram(c))
    # The distances themselves are k times the traced ones.
    assert np.array_equal(np.sort(reuse_distances(s)), np.sort(np.repeat(reuse_distances(c) * k,
                                                                         k)))


def test_an_unscaled_histogram_would_differ():
    """The histogram in pages (not units of k) moves k-fold: the test above can fail."""
    c = skewed_counts(3)
    assert not np.allclose(reuse_histogram(scale_counts(c, 8)), reuse_histogram(c))


def test_real_trace_scaled_keeps_its_shape():
    w = WorkloadConfig(kind="trace", format="columnar", window_ms=500, path=str(SQLITE))
    c = load_trace_counts(w, 4096).per_process[0]
    k = 3
    s = scale_counts(c, k)
    for f in (0.01, 0.1):
        assert np.isclose(hot_share(s, f), hot_share(c, f))
    assert np.allclose(reuse_histogram(s, unit=k), reuse_histogram(c))


def test_scaled_trace_rates_are_the_runs_counts_and_loop():
    c = skewed_counts(4, windows=3, pages=5)
    st = ScaledTrace(c, 4, 500_000)
    assert st.n == 20
    for k in range(7):  # loops over the three windows
        assert np.allclose(st.rates(k), scale_counts(c, 4)[k % 3] * 2.0)


def test_run_length_nearest_to_the_target():
    assert run_length(523, 4096, 1.0) == round(GIB / 4096 / 523)
    assert run_length(10, 4096, 1e-9) == 1


def test_scaled_trace_in_the_model():
    cfg = from_dict({"duration_s": 60, "platform": {"fast_share_of_footprint": 0.25},
                     "workload": {"kind": "trace", "format": "columnar", "window_ms": 500,
                                  "path": str(SQLITE), "scale_to_gb": 0.125}})
    lay = build_layout(cfg)
    traced = 523
    k = run_length(traced, 4096, 0.125)
    assert lay.n_pages == traced * k
    assert abs(lay.n_pages * 4096 / GIB - 0.125) < 0.125 * 0.01
    seg = lay.segments[0]
    # One phase a window for the whole run: the 46 s trace loops to fill 60 s.
    assert seg.phase_times == list(range(0, 60_000_000, 500_000))
    w = WorkloadConfig(kind="trace", format="columnar", window_ms=500, path=str(SQLITE))
    c = load_trace_counts(w, 4096).per_process[0]
    r = seg.enter_phase(len(c) + 2, (len(c) + 2) * 500_000)
    assert np.allclose(r, np.repeat(c[2], k) * 2.0)


def test_scale_to_gb_only_on_traces():
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="scale_to_gb"):
        from_dict({"workload": {"kind": "zipf", "scale_to_gb": 1}})
