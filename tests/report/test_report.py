"""`tiersweep report`: files, reproducibility, tables behind figures, input errors."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from harness.analysis.runs import REQUIRED_TRIAL_COLUMNS, load_run
from harness.analysis.study_tables import find_study
from harness.cli import main
from harness.errors import InputError
from harness.report import figures as F
from harness.report import html as R
from harness.run.worker import HEAD_COLUMNS
from tests.helpers.synth_results import make_trials, write_run

KEYS = ["1-policies", "2-pareto", "3-sensitivity", "4-timeseries", "5-study", "6-regret"]


def _journal(path, n=12):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="demo-tune", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: t.suggest_int("policy.scan_size_mb", 256, 4096, log=True) / 1e3
                   - 0.01 * t.suggest_int("policy.scan_sleep_ms", 4, 64), n_trials=n)
    return study


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = write_run(tmp_path_factory.mktemp("r") / "demo", per_mm=True)
    _journal(d / "study.journal")
    return d


@pytest.fixture(scope="module")
def written(run_dir):
    return R.write_report(run_dir, progress=False)


def test_every_figure_written_and_embedded(run_dir, written):
    assert written.skipped == {}
    for k in KEYS:
        assert (run_dir / "figures" / f"{k}.png").stat().st_size > 5000
        assert (run_dir / "figures" / f"{k}.svg").read_text().lstrip().startswith("<?xml")
    page = (run_dir / "report.html").read_text()
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == len(KEYS)
    for k, b64 in zip(KEYS, imgs, strict=True):
        assert base64.b64decode(b64) == (run_dir / "figures" / f"{k}.png").read_bytes()
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(https?:|/|\.\./)', page)
    assert page.count("<h2") == len(KEYS)
    assert page.count("<table") >= 1 + len(KEYS)


def test_same_results_same_bytes(run_dir, written, tmp_path):
    before = {p.name: p.read_bytes() for p in (run_dir / "figures").iterdir()}
    html = (run_dir / "report.html").read_bytes()
    shutil.rmtree(run_dir / "figures")
    (run_dir / "report.html").unlink()
    R.write_report(run_dir, progress=False)
    after = {p.name: p.read_bytes() for p in (run_dir / "figures").iterdir()}
    assert before.keys() == after.keys()
    for name in before:
        assert before[name] == after[name], name
    assert (run_dir / "report.html").read_bytes() == html
    # A copy elsewhere (another path) gives the same figures too.
    other = shutil.copytree(run_dir, tmp_path / "copy")
    shutil.rmtree(other / "figures")
    R.write_report(other, progress=False)
    for name in before:
        assert (other / "figures" / name).read_bytes() == before[name], name


def test_csv_tables_equal_the_results_table(run_dir, written):
    raw = pd.read_parquet(run_dir / "trials.parquet")
    pol = pd.read_csv(run_dir / "figures" / "policies.csv")
    g = raw.groupby(["workload", "label"])
    for _, r in pol.iterrows():
        grp = g.get_group((r["workload"], r["series"]))
        assert r["hit_rate_pct"] == pytest.approx(100 * grp["hit_rate"].mean())
        assert r["cost_cpu_s_sd"] == pytest.approx(grp["cost_cpu_s"].std())
    par = pd.read_csv(run_dir / "figures" / "pareto.csv").set_index("point")
    tuned = raw[raw["label"] == "tuned"]
    assert par.loc["tuned", "hit_rate_pct"] == pytest.approx(
        100 * tuned.groupby("workload")["hit_rate"].mean().mean())
    sens = pd.read_csv(run_dir / "figures" /
                       "sensitivity-policy.scan_sleep_ms-policy.scan_size_mb.csv")
    grid = raw[raw["label"].str.startswith("g-")]
    cell = grid[(grid["param.policy.scan_sleep_ms"] == 8)
                & (grid["param.policy.scan_size_mb"] == 4096)]["objective"].mean()
    row = sens[sens["mean objective"] == "scan_sleep (ms) = 8"].iloc[0]
    assert row["scan_size (MB) = 4096"] == pytest.approx(cell)
    imp = pd.read_csv(run_dir / "figures" / "study-importances.csv")
    assert imp["importance"].sum() == pytest.approx(1.0)
    hist = pd.read_csv(run_dir / "figures" / "study-history.csv")
    assert hist["best_so_far"].is_monotonic_increasing


def test_missing_optional_inputs_are_skipped_not_fatal(tmp_path):
    d = write_run(tmp_path / "bare", trials=make_trials(grid=False), timeseries=False)
    res = R.write_report(d, progress=False)
    assert set(res.skipped) == {"3-sensitivity", "4-timeseries", "5-study"}
    page = (d / "report.html").read_text()
    assert page.count("Not drawn:") == 3  # one line each, in the "Not in this run" list
    assert (d / "figures" / "1-policies.png").exists()


def test_compare_record_points_to_the_tuning_run(tmp_path, run_dir):
    d = write_run(tmp_path / "cmp", trials=make_trials(grid=False), timeseries=False)
    (d / "compare.json").write_text(json.dumps({"tuned_from": str(run_dir)}))
    study = find_study(load_run(d))
    assert study is not None and study.study_name == "demo-tune"


def test_pick_another_eval_for_the_time_series(run_dir):
    run = load_run(run_dir)
    trials = run.trials
    ev = trials[(trials["label"] == "numab2") & (trials["seed"] == 1)]["eval_id"].iloc[0]
    figs = {f.key: f for f in F.build_figures(run, None, ev, progress=False)}
    ts = dict(figs["4-timeseries"].tables)["timeseries"]
    assert ts["series"].iloc[0] == "numab2"
    assert "eval " + ev in figs["4-timeseries"].fig.axes[0].get_title()
    with pytest.raises(InputError, match="no evaluation with eval_id 'nope'"):
        F.build_figures(run, None, "nope", progress=False)


# ------------------------------------------------------------------ errors


def test_required_columns_are_the_trials_schema():
    """The report reads the columns the worker writes (harness.run.worker owns them)."""
    keys = [c for c in REQUIRED_TRIAL_COLUMNS if c not in ("hit_rate", "cost_cpu_s", "objective")]
    assert set(keys) <= set(HEAD_COLUMNS)


def _bad(tmp_path, mutate):
    d = write_run(tmp_path / "bad", trials=make_trials(grid=False), timeseries=True)
    mutate(d)
    return d


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: (d / "trials.parquet").unlink(), "trials.parquet: missing; expected a results"),
    (lambda d: (d / "trials.parquet").write_text("run,mode\n1,2\n"),
     "trials.parquet: not a readable parquet file"),
    (lambda d: pd.read_parquet(d / "trials.parquet").drop(columns=["hit_rate", "workload"])
     .to_parquet(d / "trials.parquet"), "trials.parquet: missing column(s) workload, hit_rate"),
    (lambda d: pd.read_parquet(d / "trials.parquet").assign(objective="x")
     .to_parquet(d / "trials.parquet"), "trials.parquet: column objective: expected numbers"),
    (lambda d: pd.read_parquet(d / "trials.parquet").assign(eval_id="same")
     .to_parquet(d / "trials.parquet"), "column eval_id: expected unique values"),
    (lambda d: pd.read_parquet(d / "trials.parquet").iloc[:0]
     .to_parquet(d / "trials.parquet"), "trials.parquet: no rows"),
    (lambda d: pd.read_parquet(d / "trials.parquet").assign(hit_rate=42.0)
     .to_parquet(d / "trials.parquet"), "column hit_rate: expected shares in [0, 1]"),
    (lambda d: (d / "timeseries.parquet").write_bytes(b"PAR1garbage"),
     "timeseries.parquet: not a readable parquet file"),
    (lambda d: pd.read_parquet(d / "timeseries.parquet").drop(columns=["t_s"])
     .to_parquet(d / "timeseries.parquet"), "timeseries.parquet: missing column(s) t_s"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json: not valid JSON"),
    (lambda d: (d / "study.journal").write_text("garbage\n"), "study.journal: holds no study"),
])
def test_malformed_inputs_give_one_clear_line(tmp_path, mutate, needle, capsys):
    d = _bad(tmp_path, mutate)
    with pytest.raises(InputError) as exc:
        R.write_report(d, progress=False)
    msg = str(exc.value)
    assert needle in msg and str(d) in msg
    assert "\n" not in msg
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tiersweep: error: ") and needle in err


def test_not_a_results_directory(tmp_path):
    with pytest.raises(InputError, match="no such results directory"):
        R.write_report(tmp_path / "nope", progress=False)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        R.write_report(f, progress=False)


def test_cli_report_prints_paths(tmp_path):
    d = write_run(tmp_path / "bare", trials=make_trials(grid=False), timeseries=False)
    out = subprocess.run([sys.executable, "-m", "harness", "report", str(d), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "report.html (3 figures)" in out.stdout  # policies, pareto, regret
    assert "5-study: not drawn: no Optuna study" in out.stdout
    assert out.stderr == ""  # no progress bar when not on a terminal


def test_unmerged_part_files_are_read_like_the_store_merges_them(tmp_path):
    d = write_run(tmp_path / "p", trials=make_trials(grid=False), timeseries=True)
    t = pd.read_parquet(d / "trials.parquet")
    (d / "parts").mkdir()
    newer = t.iloc[:3].assign(objective=99.0)  # rewritten rows: the newest wins
    newer.to_parquet(d / "parts" / "trials-0001.parquet")
    run = load_run(d)
    assert len(run.trials) == len(t)
    assert (run.trials.set_index("eval_id").loc[newer["eval_id"], "objective"] == 99.0).all()
    assert any("part file" in n for n in run.notes)
    (d / "trials.parquet").unlink()  # only parts (a first batch, never merged)
    assert len(load_run(d).trials) == 3
    (d / "parts" / "trials-0002.parquet").write_text("torn")
    with pytest.raises(InputError, match="trials-0002.parquet: not a readable parquet"):
        load_run(d)
