"""`tiersweep calibrate` writes its fit to an output folder, never into the
repository's configs, and prints the diff that applies it."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from harness.tools import calibrate as cal
from tests.conftest import CONFIGS


def test_the_fit_goes_to_the_output_folder_and_the_diff_applies_it(tmp_path, monkeypatch):
    abench = tmp_path / "repo" / "configs" / "abench"
    shutil.copytree(CONFIGS / "abench", abench)
    before = (abench / cal.CALIBRATED).read_text()
    committed = yaml.safe_load(before)
    const = {r["name"]: r["value"] for r in cal.constants_table(None, abench)
             if r["target"]}
    const["costs.scan_pte_ns"] = 61.25
    const["platform.nodes.2.latency_ns"] = 250.0
    monkeypatch.chdir(tmp_path / "repo")
    path, diff = cal.write_constants(const, tmp_path / "out", abench)

    assert path == tmp_path / "out" / cal.CALIBRATED
    assert (abench / cal.CALIBRATED).read_text() == before  # configs untouched
    doc = yaml.safe_load(path.read_text())
    assert doc["extends"] == "machine.yaml"
    assert doc["costs"]["scan_pte_ns"] == 61.25
    assert [n["latency_ns"] for n in doc["platform"]["nodes"]] == [110.0, 110.0, 250.0]
    # exactly the two changed constants differ
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    old_lat = committed["platform"]["nodes"][2]["latency_ns"]
    old_scan = committed["costs"]["scan_pte_ns"]
    assert sorted(changed) == ["+    latency_ns: 250.0", "+  scan_pte_ns: 61.25",
                               f"-    latency_ns: {old_lat}", f"-  scan_pte_ns: {old_scan}"]
    assert diff.startswith("--- a/configs/abench/calibrated.yaml\n"
                           "+++ b/configs/abench/calibrated.yaml\n")
    (tmp_path / "fit.diff").write_text(diff)
    subprocess.run(["patch", "-s", "-p1", "-i", str(tmp_path / "fit.diff")], check=True)
    assert (abench / cal.CALIBRATED).read_text() == path.read_text()


def test_a_fit_equal_to_the_committed_constants_has_no_diff(tmp_path):
    abench = CONFIGS / "abench"
    const = {r["name"]: r["value"] for r in cal.constants_table(None, abench) if r["target"]}
    path, diff = cal.write_constants(const, tmp_path, abench)
    assert diff == "" and path.read_text() == (abench / cal.CALIBRATED).read_text()
