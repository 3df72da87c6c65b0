"""Kill a busy Ray worker in the middle of a sweep, then check that the sweep
still equals an in-process one (Ray retried the lost work)."""

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd

from harness.run.backends import InlineBackend
from harness.search.sweep import run_sweep


def children_running(task_name: str) -> list[int]:
    """Descendants of this process whose title is ray::<task_name> (running that task)."""
    ppid = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = Path(f"/proc/{d}/stat").read_text()
                ppid[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {p for p, pp in ppid.items() if pp in frontier and p not in mine}
        mine |= frontier
    out = []
    for p in mine:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if cmd.startswith(f"ray::{task_name}"):
            out.append(p)
    return out


def long_single_point(small: str) -> str:
    """`small` (tests.search.test_sweep.SMALL) as one 60 s, 1 GiB evaluation:
    long enough to be killed while it runs."""
    text = small.replace("duration_s: 6", "duration_s: 60").replace("size_gb: 0.25", "size_gb: 1") \
        .replace("capacity_gb: 0.0625", "capacity_gb: 0.25").replace("capacity_gb: 0.5", "capacity_gb: 2") \
        .replace("seeds: [1, 2]", "seeds: [1]")
    return text.split("sweep:")[0] + "sweep: {grid: {policy.version: [v1]}, include_default: false}\n"


def sweep_with_one_kill(exp, out: Path, backend, task_name: str):
    """Run the sweep while SIGKILLing the first worker seen running `task_name`
    (after 0.3 s, well inside a simulation); returns (report, the killed pid)."""
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = children_running(task_name)
            if pids:
                time.sleep(0.3)
                if pids[0] in children_running(task_name):
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
            time.sleep(0.02)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    rep = run_sweep(exp, out, backend, progress=False)
    th.join(timeout=5)
    assert killed, f"no running {task_name} was found to kill"
    return rep, killed[0]


def assert_retried_like_inline(exp, tmp_path: Path, rep, killed: int, metrics_frame) -> None:
    """The killed sweep (in tmp_path/out) finished without errors, its result
    came from another worker than the killed one, and equals an inline run."""
    assert not rep.outcome.errors, rep.outcome.errors
    t = pd.read_parquet(tmp_path / "out/trials.parquet")
    assert len(t) == 2 and t["eval_id"].is_unique
    assert not t["worker"].str.endswith(f"/{killed}").any()  # its result came from a retry
    assert not run_sweep(exp, tmp_path / "ref", InlineBackend(), progress=False).outcome.errors
    pd.testing.assert_frame_equal(metrics_frame(tmp_path / "out/trials.parquet"),
                                  metrics_frame(tmp_path / "ref/trials.parquet"))
