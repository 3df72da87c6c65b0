"""`tiersweep defaults`: the recommendation, its evidence, the YAML and the shell snippet."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest
import yaml

from harness.analysis import recommend as D
from harness.analysis.runs import load_run
from harness.cli import main
from harness.errors import InputError
from harness.report import defaults_out as O
from tests.helpers.synth_results import make_trials, write_run


@pytest.fixture()
def run_dir(tmp_path):
    return write_run(tmp_path / "demo", timeseries=False)


def test_recommends_best_mean_objective_and_shows_evidence(run_dir):
    res = O.write_defaults(run_dir)
    raw = pd.read_parquet(run_dir / "trials.parquet")
    kmm = raw[raw["policy"] == "kmmscand"]
    means = kmm.groupby(["label", "workload"])["objective"].mean().groupby("label").mean()
    assert res.rec.point == means.idxmax() == "tuned"
    assert res.rec.knobs == {"policy.scan_size_mb": 4096, "policy.scan_sleep_ms": 8}
    ev = res.rec.evidence.set_index("workload")
    for w, grp in raw.groupby("workload"):
        t = grp[grp["label"] == "tuned"]
        r = grp[grp["label"] == "rfc-default"]
        assert ev.loc[w, "objective"] == pytest.approx(t["objective"].mean())
        assert ev.loc[w, "objective_rfc"] == pytest.approx(r["objective"].mean())
        assert ev.loc[w, "hit_rate"] == pytest.approx(t["hit_rate"].mean())
        assert ev.loc[w, "hit_rate_rfc"] == pytest.approx(r["hit_rate"].mean())

    doc = yaml.safe_load(res.yaml_path.read_text())
    assert doc["overrides"] == {"policy.scan_size_mb": 4096, "policy.scan_sleep_ms": 8}
    assert doc["knobs"]["policy.scan_sleep_ms"] == {
        "value": 8, "rfc_default": 16, "rfc_default_of": "RFC V1 default", "kernel": "sysfs",
        "sysfs": "/sys/kernel/mm/kmmscand/scan_sleep_ms"}
    assert doc["knobs"]["policy.scan_size_mb"]["kernel"] == "compile-time"
    assert doc["knobs"]["policy.scan_size_mb"]["rfc_default"] == 1024
    assert [e["workload"] for e in doc["evidence"]] == ["zipf", "hotset", "uniform"]

    sh = res.sh_path.read_text()
    assert 'echo 8 > "$SYSFS/scan_sleep_ms"' in sh
    assert "#   scan_size_mb = 4096   (RFC V1 default 1024)" in sh
    assert "RFC default" not in sh  # always whose default: the version's
    assert "echo 4096" not in sh
    assert subprocess.run(["sh", "-n", str(res.sh_path)]).returncode == 0


def test_shell_snippet_writes_into_a_fake_sysfs(run_dir, tmp_path):
    res = O.write_defaults(run_dir)
    fake = tmp_path / "sysfs"
    fake.mkdir()
    (fake / "scan_sleep_ms").write_text("16\n")
    out = subprocess.run(["sh", str(res.sh_path)], env={"KMMSCAND_SYSFS": str(fake),
                                                        "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0
    assert (fake / "scan_sleep_ms").read_text().strip() == "8"


def test_sysfs_mapping_and_bools():
    assert O.knob_kind("policy.scan_period_ms") == "sysfs"
    assert O.SYSFS_KNOBS["policy.scan_period_ms"] == "mm_scan_period_ms"
    for k in ("policy.scan_size_mb", "policy.migrate_sleep_ms"):
        assert O.knob_kind(k) == "compile-time"
    # In no posted version: labelled proposed, not a kernel constant.
    for k in ("policy.migrate_batch", "policy.migrate_rate_limit_mbps", "policy.dedup"):
        assert O.knob_kind(k) == "proposed"
    assert O.knob_kind("workload.size_gb") == "model"
    assert O.knob_kind("policy.list_slab") == "model"  # a model switch, not a kernel one
    assert O.sysfs_value(True) == "1" and O.sysfs_value(False) == "0"
    assert D.rfc_default("policy.scan_sleep_ms", "v3") == 20
    assert D.rfc_default("policy.scan_size_mb", "v0") == 4096


def test_incomplete_points_are_not_recommended(tmp_path):
    raw = make_trials()
    raw = raw[~((raw["label"] == "tuned") & (raw["workload"] == "uniform"))]
    rec = D.recommend(load_run(write_run(tmp_path / "d", trials=raw, timeseries=False)))
    assert rec.point != "tuned"
    assert rec.point.startswith("g-")


def test_study_best_trial_wins(tmp_path):
    """With a single-objective study, its best trial is the recommendation even where the
    table's plain mean would pick another point (the study may aggregate differently)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raw = make_trials(mode="tune", grid=True)
    d = write_run(tmp_path / "t", trials=raw, timeseries=False)
    storage = JournalStorage(JournalFileBackend(str(d / "study.journal")))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    target = raw[raw["label"] == "g-256-32"]["trial"].iloc[0]
    for n in range(int(raw["trial"].max()) + 1):
        study.add_trial(optuna.trial.create_trial(value=1.0 if n == target else 0.0))
    rec = D.recommend(load_run(d))
    assert rec.point == "g-256-32" and rec.trial == target
    assert "best trial" in rec.selected_by
    assert rec.knobs == {"policy.scan_size_mb": 256, "policy.scan_sleep_ms": 32}


def test_no_rfc_rows_is_noted(tmp_path):
    raw = make_trials()
    raw = raw[raw["label"] != "rfc-default"]
    rec = D.recommend(load_run(write_run(tmp_path / "d", trials=raw, timeseries=False)))
    assert rec.evidence["objective_rfc"].isna().all()
    assert any("no rfc-default" in n for n in rec.notes)
    assert "RFC defaults" not in O.to_shell(rec).splitlines()[3]


def test_no_kmmscand_rows_is_an_input_error(tmp_path, capsys):
    raw = make_trials(grid=False)
    raw = raw[raw["policy"] != "kmmscand"]
    d = write_run(tmp_path / "d", trials=raw, timeseries=False)
    with pytest.raises(InputError, match="no kmmscand evaluations"):
        D.recommend(load_run(d))
    assert main(["defaults", str(d)]) == 2
    assert "tiersweep: error:" in capsys.readouterr().err


def test_cli_prints_evidence(run_dir, capsys):
    assert main(["defaults", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "recommended: tuned" in out
    assert "RFC [95%]" in out and "zipf" in out and "hotset" in out
    assert "minus RFC [95%]" in out and "regret per workload" in out
    assert "defaults.yaml" in out and "defaults.sh" in out


def test_study_evidence_splits_study_and_holdout_seeds(tmp_path):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from tests.helpers.synth_results import make_tune_like

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raw = make_tune_like()
    d = write_run(tmp_path / "st", trials=raw, timeseries=False)
    storage = JournalStorage(JournalFileBackend(str(d / "study.journal")))
    study = optuna.create_study(study_name="st", storage=storage, direction="maximize")
    for n in range(4):
        study.add_trial(optuna.trial.create_trial(value=1.0 if n == 2 else 0.0))
    rec = D.recommend(load_run(d))
    assert rec.point == "t2" and rec.trial == 2
    assert rec.knobs == {"policy.scan_size_mb": 4096, "policy.scan_sleep_ms": 8}
    ev = rec.evidence.set_index(["seeds", "workload"])
    assert list(dict.fromkeys(rec.evidence["seeds"])) == ["study", "holdout"]
    tuned = raw[(raw["label"] == "tuned")]
    rfc = raw[(raw["label"] == "rfc-default") & (raw["mode"] == "compare")]
    for w in ("zipf", "hotset"):
        for g, seeds in (("study", (1, 2)), ("holdout", (3,))):
            t = tuned[(tuned["workload"] == w) & tuned["seed"].isin(seeds)]
            r = rfc[(rfc["workload"] == w) & rfc["seed"].isin(seeds)]
            assert ev.loc[(g, w), "objective"] == pytest.approx(t["objective"].mean())
            assert ev.loc[(g, w), "objective_rfc"] == pytest.approx(r["objective"].mean())
            assert ev.loc[(g, w), "n_seeds"] == len(seeds)
    s = rec.summary()  # suite seeds only
    assert s["objective"] == pytest.approx(
        tuned[tuned["seed"] < 3].groupby("workload")["objective"].mean().mean())
    assert any("final comparison" in n for n in rec.notes)


def test_a_v3_recommendation_names_kscand_and_both_versions_defaults(tmp_path):
    """Recommending V3 from a run whose rfc-default runs are V1: the sysfs directory
    is V3's thread's (kscand), each default says whose it is."""
    raw = make_trials(grid=False)
    raw.loc[raw["label"] == "tuned", "version"] = "v3"
    raw.loc[raw["label"] == "tuned", "param.policy.version"] = "v3"
    d = write_run(tmp_path / "v3", trials=raw, timeseries=False)
    res = O.write_defaults(d)
    assert res.rec.version == "v3" and res.rec.base_version == "v1"
    sh = res.sh_path.read_text()
    assert 'SYSFS="${KMMSCAND_SYSFS:-/sys/kernel/mm/kscand}"' in sh
    assert "# RFC V3 default 20; the rfc-default runs (V1): 16" in sh
    doc = yaml.safe_load(res.yaml_path.read_text())
    k = doc["knobs"]["policy.scan_sleep_ms"]
    assert (k["rfc_default"], k["rfc_default_of"]) == (20, "RFC V3 default")
    assert (k["compared_rfc_default"], k["sysfs"]) == (16, "/sys/kernel/mm/kscand/scan_sleep_ms")


def test_proposed_knobs_are_labelled_in_the_defaults(run_dir):
    """A recommended migrate_batch (in no posted version) is written as proposed,
    with the posted behaviour beside it, not as a kernel constant."""
    rec = O.write_defaults(run_dir).rec
    rec.knobs["policy.migrate_batch"] = 512
    doc = yaml.safe_load(O.to_yaml(rec))
    assert doc["knobs"]["policy.migrate_batch"]["kernel"] == "proposed"
    assert doc["knobs"]["policy.scan_size_mb"]["kernel"] == "compile-time"
    sh = O.to_shell(rec)
    assert "# Proposed knobs: in no posted RFC version" in sh
    assert "#   migrate_batch = 512   (the posted behaviour: 0)" in sh
    assert "migrate_batch = 512   (RFC" not in sh  # not listed as a patch constant
