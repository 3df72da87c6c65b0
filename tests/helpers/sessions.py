"""Processes of a session a test started (its own `ray start` or driver), by id.

`ray stop` would end every Ray process of the user on the machine, so the
tests end only what they started: the processes of one session.
"""

import contextlib
import os
import signal
import time
from pathlib import Path


def session_pids(sid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = Path(f"/proc/{d}/stat").read_text()
                if int(st[st.rindex(")") + 2:].split()[3]) == sid:
                    out.append(int(d))
            except (OSError, ValueError):
                pass
    return out


def end_session(sid: int, term_wait: float = 8.0, kill_wait: float = 3.0) -> None:
    """SIGTERM the session's processes, then SIGKILL whatever is left."""
    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, kill_wait)):
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while session_pids(sid) and time.monotonic() < deadline:
            time.sleep(0.2)


def ray_backend(cpus: int = 2, attempts: int = 5):
    """A local Ray session for one test module, surviving a slow start on a
    loaded machine: more start attempts than a command makes (each with its
    growing pause), so a busy CI box does not fail a test whose code is right."""
    from harness.run.backends import RayBackend

    return RayBackend(cpus=cpus, start_attempts=attempts)
