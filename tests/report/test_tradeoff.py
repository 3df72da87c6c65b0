"""The trade-off figure: one point per trial, a panel per workload, the marks."""

import pandas as pd

from harness.report.plots_study import plot_tradeoff


def test_tradeoff_has_suite_and_workload_panels_and_every_trial():
    pw = pd.DataFrame([{"trial": t, "workload": w, "gain_share": 0.1 * t, "cost_rel": 0.2 * t,
                        "feasible": t != 2} for t in range(5) for w in ("a", "b", "c")])
    suite = pw.groupby("trial").agg(gain_share=("gain_share", "mean"),
                                    cost_rel=("cost_rel", "mean"),
                                    feasible=("feasible", "first")).reset_index()
    suite["front"] = True
    marks = pd.DataFrame([{"name": "RFC defaults", "workload": w, "gain_share": 0.3,
                           "cost_rel": 1.0} for w in ("[suite]", "a", "b", "c")])
    fig = plot_tradeoff(suite, pw, marks)
    axes = fig.get_axes()
    assert [a.get_title() for a in axes[1:]] == ["a", "b", "c"]
    # Big panel: feasible and infeasible trials together are every trial.
    offsets = [len(c.get_offsets()) for c in axes[0].collections]
    assert offsets[:2] == [1, 4]  # trial 2 is the infeasible one
    assert "RFC defaults" in [t.get_text() for t in axes[0].get_legend().get_texts()]
