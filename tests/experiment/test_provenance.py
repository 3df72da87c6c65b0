"""Every knob of the shipped suites says where it exists."""

import pytest

from harness.experiment import load_experiment
from harness.experiment.provenance import PROPOSED, PROVENANCE, kernel_settable, where
from tests.conftest import CONFIGS


@pytest.mark.parametrize("name", ["mixed-suite.yaml", "suite.yaml", "real-suite.yaml"])
def test_shipped_space_has_provenance_and_guards(name):
    st = load_experiment(CONFIGS / name).study
    for p in st.space:
        assert p.key in PROVENANCE, p.key
    assert set(st.bounds) == {"max_hit_loss_points", "max_cpu_percent"}


def test_proposed_knobs_and_kernel_settable():
    proposed = {k for k in PROVENANCE if where(k) == PROPOSED}
    assert proposed == {"policy.dedup", "policy.migrate_batch", "policy.migrate_rate_limit_mbps"}
    p = {"policy.dedup": True, "policy.migrate_batch": 256, "policy.scan_size_mb": 99}
    assert kernel_settable(p) == {"policy.dedup": False, "policy.migrate_batch": 0,
                                  "policy.scan_size_mb": 99}
