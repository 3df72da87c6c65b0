"""The report's tables as people read them: headers with units, a value and its
interval in one cell rounded to the interval's second significant digit."""

import pandas as pd

from harness.report.tables import caption, for_people, plain, with_interval


def test_a_value_is_rounded_to_what_its_interval_supports():
    assert with_interval(62.1452, 56.5604, 67.7299) == "62.1 [56.6, 67.7]"
    assert with_interval(10.33097, 10.30318, 10.35875) == "10.33 [10.30, 10.36]"
    # a tiny interval keeps no more than four significant digits of the value
    assert with_interval(2.8097741, 2.8097740, 2.8097742) == "2.810 [2.810, 2.810]"
    assert with_interval(5.0, float("nan"), float("nan")) == "5"  # one seed: no interval


def test_plain_numbers_have_three_significant_digits_and_no_exponent_for_thousands():
    assert [plain(x) for x in (5835.2, 0.92811, 148768.0, True)] == [
        "5,840", "0.928", "148,768", "yes"]


def test_headers_have_units_and_intervals_join_their_value():
    df = pd.DataFrame({"workload": ["zipf"], "n_seeds": [3], "hit_rate_pct": [62.1452],
                       "hit_rate_sd_pct": [2.2], "hit_rate_lo_pct": [56.5604],
                       "hit_rate_hi_pct": [67.7299], "cost_cpu_s": [10.33],
                       "cost_cpu_s_lo": [10.30318], "cost_cpu_s_hi": [10.35875]})
    out = for_people("policies", df)
    assert list(out.columns) == ["workload", "seeds", "fast-tier hit rate (%) [95% interval]",
                                 "CPU cost (CPU-s per run) [95% interval]"]
    assert out.iloc[0].tolist() == ["zipf", "3", "62.1 [56.6, 67.7]", "10.33 [10.30, 10.36]"]
    assert caption("policies").startswith("Each policy or knob setting on each workload")
