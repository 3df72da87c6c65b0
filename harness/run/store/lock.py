"""One driver per run directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from harness.errors import TiersweepError
from harness.run.store.layout import ANOTHER_RUN_DIR, LOCK


class RunLock:
    """An flock on DIR/.lock (freed when the process dies)."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK
        self._f = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held for the lock's lifetime
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise TiersweepError(f"{self.path.parent}: in use by another tiersweep process "
                                 f"(pid {holder}); wait for it or {ANOTHER_RUN_DIR}") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc) -> None:
        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()
            self._f = None
