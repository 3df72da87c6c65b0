"""The headline's words: what got better and worse, and when a loss breaks the guard."""

import pandas as pd

from harness.analysis.headline import _stat, verdicts


def _t(rows):
    return pd.DataFrame([{"workload": w, "label": lab, "hit": h, "cpu": c}
                         for w, lab, h, c in rows])


def test_words_and_the_budget_that_forces_a_loss():
    df = _t([("a", "rfc-default", 50.0, 40.0), ("a", "recommended", 49.0, 10.0),
             ("b", "rfc-default", 60.0, 80.0), ("b", "recommended", 50.0, 55.0),
             ("c", "rfc-default", 30.0, 20.0), ("c", "recommended", 25.0, 20.0)])
    a, b, c = verdicts(df, {"max_hit_loss_points": 2, "max_cpu_percent": 60})
    assert a.startswith("a: hit rate worse (-1.0 points), CPU cheaper") and "LOSES" not in a
    assert "LOSES 10.0 points > 2: the CPU budget forces it" in b
    assert "LOSES 5.0 points > 2 on these seeds" in c and "budget" not in c


def test_deterministic_instead_of_a_zero_width_interval():
    m, lo, hi, det = _stat(pd.Series([0.4, 0.4, 0.4]))
    assert det and m == 0.4 and lo != lo and hi != hi
    m, lo, hi, det = _stat(pd.Series([0.3, 0.5]))
    assert not det and lo < m < hi
