"""Trace readers: exact counts and windows, gzip, errors, cache, inspect, the model on a trace."""

from __future__ import annotations

import collections
import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.config import WorkloadConfig, load_config
from harness.errors import InputError
from harness.traces import ReaderOptions, detect_format, lackey, load_trace, load_trace_counts
from harness.traces.inspect import skew, summarize
from tests.conftest import REPO

ROOT = REPO
FIXTURE = ROOT / "tests" / "fixtures" / "skew.lackey.gz"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERSWEEP_CACHE", str(tmp_path / "cache"))


def as_dict(tc, proc: int = 0) -> dict:
    """{(window, page number): count} of one process."""
    a = tc.per_process[proc]
    w, c = np.nonzero(a)
    return {(int(x), int(tc.page_numbers[proc][y])): int(a[x, y]) for x, y in zip(w, c,
                                                                                  strict=True)}


def naive_lackey(text: str, ips: float, window_ms: int, page: int = 4096):
    """Reference: lackey's format as docs/formats.md states it, one line at a time."""
    per = ips * window_ms / 1000
    instr = 0
    counts: collections.Counter = collections.Counter()
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line or line.startswith(("==", "--")):
            continue
        addr, size = line[3:].split(",")
        addr, size = int(addr, 16), int(size)
        if line[0] == "I":
            instr += 1
            continue
        w = math.floor(max(instr - 1, 0) / per)
        for p in range(addr // page, (addr + max(size, 1) - 1) // page + 1):
            counts[(w, p)] += 1
    return dict(counts), math.floor((instr - 1) / per) + 1


def test_lackey_exact_counts_and_windows(tmp_path):
    text = ("==77== Lackey, an example Valgrind tool\n"
            " L 0000100c,4\n"       # before any instruction: window 0, page 1
            "I  04000000,3\n"       # instruction 1 (t = 0)
            " S 00002ffe,4\n"       # crosses pages 2 and 3
            "I  04000003,2\n"       # instruction 2 (t = 1 ms): still window 0
            " M 00001000,8\n"
            "I  04000005,2\n"       # instruction 3 (t = 2 ms): window 1
            " L 00005000,1\n"
            "I  04000007,2\n"
            "I  04000009,2\n"       # instruction 5 (t = 4 ms): window 2
            " L 00001fff,1\n"
            "==77== Exit code: 0\n")
    p = tmp_path / "t.lackey"
    p.write_text(text)
    tc = load_trace(p, "lackey", ReaderOptions(window_ms=2, instructions_per_s=1000))
    assert tc.pids == [77] and tc.window_ms == 2 and tc.page_size == 4096
    assert list(tc.page_numbers[0]) == [1, 2, 3, 5]
    assert tc.per_process[0].tolist() == [[2, 1, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]
    assert tc.stats["instructions"] == 5 and tc.stats["loads"] == 3
    assert tc.stats["stores"] == 1 and tc.stats["modifies"] == 1
    assert tc.first_page_address == [0x1000]


def random_lackey(rng, n: int) -> str:
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.02:
            out.append(f"=={i}== message, with a comma")
            continue
        if r < 0.03:
            out.append("")
            continue
        addr = int(rng.integers(0, 1 << 20)) * 4096 + int(rng.integers(0, 4096))
        if rng.random() < 0.1:
            addr = int(rng.integers(0, 1 << 63)) * 2 + 1  # up to 16 digits
        size = int(rng.choice([1, 2, 4, 8, 16, 32, 64, 200, 5000]))
        h = f"{addr:08x}" if rng.random() < 0.95 else f"{addr:08X}"
        end = "\r" if rng.random() < 0.02 else ""
        if rng.random() < 0.6:
            out.append(f"I  {h},{int(rng.integers(1, 16))}{end}")
        else:
            out.append(f" {'LSM'[int(rng.integers(0, 3))]} {h},{size}{end}")
    return "\n".join(out)  # no newline after the last line


@pytest.mark.parametrize("ips,window_ms", [(1000, 5), (1500, 1)])
def test_lackey_matches_reference_across_blocks(tmp_path, monkeypatch, ips, window_ms):
    monkeypatch.setattr(lackey, "BLOCK", 4096)  # many blocks, lines cut at block ends
    text = random_lackey(np.random.default_rng(ips), 6000)
    p = tmp_path / "r.lackey"
    p.write_text(text)
    tc = load_trace(p, "lackey", ReaderOptions(window_ms=window_ms, instructions_per_s=ips),
                    use_cache=False)
    want, n_windows = naive_lackey(text, ips, window_ms)
    assert as_dict(tc) == want
    assert tc.n_windows == n_windows
    assert tc.stats["lines"] == text.count("\n") + 1


def test_gzip_and_plain_give_identical_workloads(tmp_path):
    text = random_lackey(np.random.default_rng(5), 3000) + "\n"
    plain, gz = tmp_path / "a.lackey", tmp_path / "a.lackey.gz"
    plain.write_text(text)
    gz.write_bytes(gzip.compress(text.encode()))
    opts = ReaderOptions(window_ms=1, instructions_per_s=2000)
    a, b = load_trace(plain, "auto", opts), load_trace(gz, "auto", opts)
    assert a.format == b.format == "lackey"
    assert len(a.per_process) == len(b.per_process) == 1
    assert np.array_equal(a.per_process[0], b.per_process[0])
    assert np.array_equal(a.page_numbers[0], b.page_numbers[0])


@pytest.mark.parametrize("bad", ["I  0401zz70,3", "I  0401ab70", "I  ,3", " X 00001000,4",
                                 "I  04001000,3a", " L 11112222333344445,4", "garbage",
                                 "I 04001000,3"])
def test_malformed_line_names_file_and_line(tmp_path, bad):
    p = tmp_path / "bad.lackey"
    p.write_text(f"==1== hi\nI  04000000,3\n L 00001000,4\n{bad}\n L 00002000,4\n")
    with pytest.raises(InputError) as exc:
        load_trace(p, "lackey", use_cache=False)
    msg = str(exc.value)
    assert msg.startswith(f"{p}:4: expected 'I  addr,size'") and repr(bad) in msg
    assert "\n" not in msg
    tc = load_trace(p, "lackey", ReaderOptions(skip_bad_lines=True), use_cache=False)
    assert tc.stats["bad_lines"] == 1 and tc.stats["first_bad_lines"] == [4]
    assert tc.accesses == 2


def test_cli_malformed_exit_2_and_skip_option(tmp_path):
    p = tmp_path / "bad.lackey"
    p.write_text("I  04000000,3\n L 00001000,4\nhello\n")
    run = [sys.executable, "-m", "harness", "trace", "inspect", str(p), "--format", "lackey"]
    r = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert f"{p}:3: expected" in r.stderr
    r = subprocess.run(run + ["--skip-bad-lines", "--json"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bad_lines"] == 1


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = gzip.compress(random_lackey(np.random.default_rng(2), 4000).encode())
    p = tmp_path / "cut.lackey.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.lackey\.gz: truncated gzip file"):
        load_trace(p, "lackey", use_cache=False)


def test_bad_line_early_in_gzip_stops_the_reader_thread(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(lackey, "BLOCK", 4096)
    text = "I  04000000,3\nnot a trace line\n" + random_lackey(np.random.default_rng(3), 20000)
    p = tmp_path / "early.lackey.gz"
    p.write_bytes(gzip.compress(text.encode()))
    before = threading.active_count()
    with pytest.raises(InputError, match=r"early\.lackey\.gz:2: expected"):
        load_trace(p, "lackey", use_cache=False)
    assert threading.active_count() == before


def test_cache_hit_does_not_reparse(tmp_path, monkeypatch, capsys):
    p = tmp_path / "c.lackey"
    p.write_text("I  04000000,3\n L 00001000,4\n L 00003000,4\n")
    first = load_trace(p, "lackey")
    assert first.stats["cached"] is False
    assert "converted" in capsys.readouterr().err  # the speed is printed on conversion
    import harness.traces as traces

    def boom(*a, **k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(traces, "convert", boom)
    second = load_trace(p, "lackey")
    assert second.stats["cached"] is True
    assert np.array_equal(first.per_process[0], second.per_process[0])
    assert list(second.page_numbers[0]) == [1, 3]
    cached = list((tmp_path / "cache" / "traces").glob("*.npz"))
    assert len(cached) == 1
    np.load(cached[0], allow_pickle=False).close()
    # Other reader options or other content: a different key, converted again.
    with pytest.raises(AssertionError, match="parsed again"):
        load_trace(p, "lackey", ReaderOptions(window_ms=7))
    p.write_text("I  04000000,3\n L 00002000,4\n")
    with pytest.raises(AssertionError, match="parsed again"):
        load_trace(p, "lackey")


def columnar_rows():
    # (time_s, pid, addr, count)
    return [(0.0, 10, 0x1000, 3), (0.4, 10, 0x1fff, 1), (1.2, 10, 0x5000, 2),
            (0.1, 20, 0x7000, 5), (2.9, 20, 0x7010, 1), (2.0, 10, 0x1000, 0)]


def test_columnar_csv_and_parquet(tmp_path):
    import pandas as pd

    df = pd.DataFrame(columnar_rows(), columns=["time_s", "pid", "addr", "count"])
    csv, pq, csvgz = tmp_path / "a.csv", tmp_path / "a.parquet", tmp_path / "a.csv.gz"
    df.to_csv(csv, index=False)
    df.to_parquet(pq, index=False)
    df.to_csv(csvgz, index=False, compression="gzip")
    opts = ReaderOptions(window_ms=1000)
    for path in (csv, pq, csvgz):
        assert detect_format(str(path)) == "columnar"
        tc = load_trace(path, "auto", opts, use_cache=False)
        assert tc.pids == [10, 20] and tc.n_windows == 3
        assert as_dict(tc, 0) == {(0, 1): 4, (1, 5): 2}
        assert as_dict(tc, 1) == {(0, 7): 5, (2, 7): 1}
    # window + page columns, hex addresses as strings
    csv2 = tmp_path / "b.csv"
    csv2.write_text("window,addr\n0,0x2000\n0,0x2008\n3,0x10000\n")
    tc = load_trace(csv2, "columnar", opts, use_cache=False)
    assert as_dict(tc) == {(0, 2): 2, (3, 16): 1} and tc.n_windows == 4


def test_columnar_bad_row_and_missing_columns(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("window,page,count\n0,1,1\n1,2,x\n2,3,1\n")
    with pytest.raises(InputError, match=r"bad\.csv:3: column 'count'"):
        load_trace(p, "columnar", use_cache=False)
    tc = load_trace(p, "columnar", ReaderOptions(skip_bad_lines=True), use_cache=False)
    assert tc.stats["bad_lines"] == 1 and tc.accesses == 2
    q = tmp_path / "cols.csv"
    q.write_text("when,where\n1,2\n")
    with pytest.raises(InputError, match="expected columns"):
        load_trace(q, "columnar", use_cache=False)


@pytest.mark.parametrize("count", ["1e30", "1.0e+30", "9223372036854775808"])
def test_columnar_count_past_int64_is_a_bad_row_not_zero(tmp_path, count):
    p = tmp_path / "big.csv"
    p.write_text(f"window,page,count\n0,1,{count}\n")
    with pytest.raises(InputError, match=r"big\.csv:2: column 'count': expected an integer "
                                         r"in \[0, 2\^63\)"):
        load_trace(p, "columnar", use_cache=False)


def test_not_a_trace_file_says_what_it_is(tmp_path):
    import os

    with pytest.raises(InputError, match="is a directory, expected a trace file"):
        load_trace(tmp_path, use_cache=False)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        load_trace(fifo, use_cache=False)
    with pytest.raises(InputError, match="no such trace file"):
        load_trace(tmp_path / "missing.csv", use_cache=False)
    empty = tmp_path / "t.parquet"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"t\.parquet: empty file \(expected a trace\)"):
        load_trace(empty, "columnar", use_cache=False)
    fake = tmp_path / "f.parquet"
    fake.write_text("window,page\n0,1\n")
    with pytest.raises(InputError, match="not a parquet file"):
        load_trace(fake, "columnar", use_cache=False)


def damon_doc():
    s = 1_000_000_000  # ns
    return [
        {"kdamond_idx": 0, "context_idx": 0, "target_id": 42,
         "intervals": {"sample": "5000", "aggr": "100000"},
         "snapshots": [
             {"start_time": str(s), "end_time": str(s + 100_000_000),
              "regions": [{"start": "4096", "end": "12288",
                           "nr_accesses": {"samples": "3", "percent": None}},
                          {"start": 65536, "end": 69632, "nr_accesses": {"samples": 0}}]},
             # 150-350 ms: 50 ms in window 1, 100 ms in window 2, 50 ms in 3: 8 -> 2 + 4 + 2
             {"start_time": s + 150_000_000, "end_time": s + 350_000_000,
              "regions": [{"start": 8192, "end": 16384, "nr_accesses": {"samples": 8}}]},
         ]},
        {"target_id": 7, "snapshots": [
            {"start_time": s, "end_time": s + 100_000_000,
             "regions": [{"start": 1 << 30, "end": (1 << 30) + 4096, "nr_accesses": 5}]}]},
    ]


def test_damon_json_plain_zlib_gzip(tmp_path):
    import zlib

    raw = json.dumps(damon_doc()).encode()
    plain, zl, gz = tmp_path / "d.json", tmp_path / "damon.data", tmp_path / "d.bin"
    plain.write_bytes(raw)
    zl.write_bytes(zlib.compress(raw))
    gz.write_bytes(gzip.compress(raw))
    opts = ReaderOptions(window_ms=100)
    for path in (plain, zl, gz):
        assert detect_format(str(path)) == "damon"
        tc = load_trace(path, "auto", opts, use_cache=False)
        assert tc.pids == [42, 7] and tc.n_windows == 4
        # pages 1, 2: 3 samples in window 0; pages 2, 3: 8 samples split 2 + 4 + 2
        assert as_dict(tc, 0) == {(0, 1): 3, (0, 2): 3, (1, 2): 2, (1, 3): 2, (2, 2): 4,
                                  (2, 3): 4, (3, 2): 2, (3, 3): 2}
        assert as_dict(tc, 1) == {(0, (1 << 30) // 4096): 5}
    zl.write_bytes(zlib.compress(raw)[:-20])
    with pytest.raises(InputError, match="truncated zlib"):
        load_trace(zl, "damon", opts, use_cache=False)


def test_inspect_skew_on_known_trace(tmp_path):
    lines = ["I  04000000,1"] + [" L 00001000,1"] * 100 + [f" L {p * 4096:08x},1"
                                                           for p in range(2, 101)]
    p = tmp_path / "k.lackey"
    p.write_text("\n".join(lines) + "\n")
    s = summarize(load_trace(p, "lackey"))
    assert s["pages"] == 100 and s["accesses"] == 199
    assert s["footprint_bytes"] == 100 * 4096
    assert s["skew_top1pct"] == pytest.approx(100 / 199)
    assert s["skew_top10pct"] == pytest.approx(109 / 199)
    assert skew(np.array([5, 5, 5, 5]), 0.5) == 0.5


def test_cli_inspect_json_and_heatmap(tmp_path):
    out = tmp_path / "heat.png"
    r = subprocess.run([sys.executable, "-m", "harness", "trace", "inspect", str(FIXTURE),
                        "--instructions-per-s", "20000", "--window-ms", "500", "--json",
                        "--heatmap", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["format"] == "lackey" and s["pages"] == 275 and s["windows"] == 74
    assert 0.1 < s["skew_top1pct"] < s["skew_top10pct"] < 1
    assert out.stat().st_size > 10_000


def test_committed_fixture_is_a_real_recording():
    assert FIXTURE.stat().st_size < 1 << 20
    with gzip.open(FIXTURE, "rt") as f:
        head = f.read(4096)
    assert "Lackey, an example Valgrind tool" in head and "Command:" in head
    tc = load_trace(FIXTURE, "auto", ReaderOptions(window_ms=500, instructions_per_s=20000))
    assert tc.format == "lackey" and len(tc.pids) == 1 and tc.stats["bad_lines"] == 0
    # 256 array pages plus stack and libc data; 20000 read-modify-writes.
    assert tc.n_pages == 275 and tc.stats["modifies"] >= 20000


def test_trace_example_policies_below_the_oracle():
    """The oracle bounds every policy. With every page first on the slow tier
    kmmscand beats doing nothing; with first-touch placement it need not: V1
    re-queues every once-young slow page on every visit (sticky PG_young) and
    the churn can cost more than it gains, which the model must be able to show."""
    from harness.model import simulate

    cfg = load_config(ROOT / "configs" / "trace-example.yaml")
    assert cfg.workloads[0].kind == "trace"
    for placement in ("slow", "first_touch"):
        hit = {}
        for policy in ("none", "kmmscand", "oracle"):
            c = cfg.replace({"policy.kind": policy, "workload.placement": placement})
            hit[policy] = simulate(c).metrics["hit_rate"]
        assert max(hit["none"], hit["kmmscand"]) <= hit["oracle"], (placement, hit)
        assert hit["oracle"] > hit["none"] + 0.3
        if placement == "slow":
            assert hit["none"] == 0.0 < hit["kmmscand"], hit


def test_fast_tier_as_share_or_gib_and_process_copies():
    from harness.model import Sim, make_policy

    cfg = load_config(ROOT / "configs" / "trace-example.yaml")
    sim = Sim(cfg, make_policy(cfg.policy))
    assert sim.n_pages == 275 and sim.capacity[0] == math.ceil(0.25 * 275)
    gib = cfg.replace({"platform.fast_share_of_footprint": None,
                       "platform.nodes.0.capacity_gb": 100 * 4096 / 2**30})
    assert Sim(gib, make_policy(gib.policy)).capacity[0] == 100
    two = cfg.replace({"workload.processes": 2})
    sim2 = Sim(two, make_policy(two.policy))
    assert sim2.n_pages == 550 and len(sim2.mms) == 2


def test_load_trace_counts_from_workload_config(tmp_path):
    p = tmp_path / "w.lackey"
    p.write_text("I  04000000,3\n L 00001000,4\nI  04000000,3\n L 00003000,4\n")
    w = WorkloadConfig(kind="trace", path=str(p), format="lackey", instructions_per_s=1000,
                       window_ms=1)
    tc = load_trace_counts(w, 4096)
    assert tc.window_ms == 1 and [a.tolist() for a in tc.per_process] == [[[1, 0], [0, 1]]]
    tc8 = load_trace_counts(w, 8192)  # 8 KiB pages: 0x1000 and 0x3000 are pages 0 and 1
    assert list(tc8.page_numbers[0]) == [0, 1]


def test_model_does_not_import_pandas():
    code = ("import sys; from harness.config import load_config; from harness.model import "
            "build_layout; build_layout(load_config('configs/trace-example.yaml')); "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_record_needs_valgrind(tmp_path, monkeypatch):
    from harness.traces import record as rec

    monkeypatch.setattr(rec.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="valgrind is not installed"):
        rec.record(["true"], tmp_path / "x.lackey.gz")


@pytest.mark.skipif(not Path("/usr/bin/valgrind").exists() and not __import__("shutil").which(
    "valgrind"), reason="valgrind not installed")
def test_record_real_program(tmp_path):
    out = tmp_path / "true.lackey.gz"
    r = subprocess.run([sys.executable, "-m", "harness", "trace", "record", "--out", str(out),
                        "--", "/bin/true"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    tc = load_trace(out, "auto", ReaderOptions(window_ms=1, instructions_per_s=1e6))
    assert tc.format == "lackey" and tc.accesses > 1000 and tc.stats["bad_lines"] == 0


def test_convert_writes_a_columnar_trace_that_reads_back_to_the_same_counts(tmp_path):
    from harness.cli import main

    out = tmp_path / "skew.parquet"
    assert main(["trace", "convert", str(FIXTURE), str(out), "--instructions-per-s", "20000",
                 "--window-ms", "500"]) == 0
    opts = ReaderOptions(window_ms=500, instructions_per_s=20000)
    a = load_trace(str(FIXTURE), "lackey", opts, use_cache=False, verbose=False)
    b = load_trace(str(out), "columnar", opts, use_cache=False, verbose=False)
    assert a.pids == b.pids and a.n_windows == b.n_windows
    for x, y, px, py in zip(a.per_process, b.per_process, a.page_numbers, b.page_numbers,
                            strict=True):
        assert np.array_equal(px, py) and np.array_equal(x, y)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


@pytest.mark.parametrize("name", ["xz-compress", "sqlite-query", "sort-records", "python-dict"])
def test_the_real_suite_traces_replay_with_their_skew(name):
    """Each committed real-program trace runs as its suite entry; with a quarter of
    its footprint on the fast tier, the oracle serves at least the share of accesses
    the hottest 10% of pages get (inspect's skew), none serves nothing."""
    from harness.experiment import load_experiment
    from harness.model import simulate
    from harness.traces.inspect import summarize

    exp = load_experiment(ROOT / "configs" / "real-suite.yaml")
    cfg = exp.run_config(name, 1, {"duration_s": 10.0})
    tc = load_trace(cfg.workloads[0].path, "columnar", ReaderOptions(window_ms=500),
                    verbose=False)
    assert 500 < tc.n_pages < 3000 and tc.accesses > 5e7
    oracle = simulate(cfg.replace({"policy.kind": "oracle"})).metrics["hit_rate"]
    none = simulate(cfg.replace({"policy.kind": "none"})).metrics["hit_rate"]
    assert none == 0.0
    assert oracle >= summarize(tc)["skew_top10pct"] - 0.05
