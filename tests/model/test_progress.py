"""The objective so far at each sample: what a pruner judges a trial on."""

from __future__ import annotations

import math

from harness.config.schema import from_dict
from harness.model import simulate


def test_progress_ends_at_the_runs_objective():
    cfg = from_dict({"duration_s": 12, "sample_ms": 2000,
                     "platform": {"fast_share_of_footprint": 0.25},
                     "workload": {"kind": "kvcache", "size_gb": 0.0625, "move_every_s": 1}})
    res = simulate(cfg)
    prog = res.progress
    assert prog["t_s"] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0] == res.timeseries["t_s"]
    assert all(math.isfinite(x) for x in prog["objective"])
    assert math.isclose(prog["objective"][-1], res.metrics["objective"], rel_tol=1e-12)
    # Early values differ from the final one (the scanner warms up): a rung
    # judged at a partial duration sees a different number.
    assert prog["objective"][0] != prog["objective"][-1]
