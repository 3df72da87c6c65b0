"""Proof that tasks get arrays, not paths: on a real cluster a worker node does
not have the driver's files (configs, traces, counts).

``forbid_opens`` is a Ray ``worker_process_setup_hook``: with
``TIERSWEEP_FORBID_OPEN=DIR`` in the job's environment, every worker process
refuses to open any file under DIR (a PermissionError that fails the
evaluation, so the run reports it). The multi-node test runs a sweep over a
trace with its experiment directory forbidden this way.
"""

from __future__ import annotations

import os
import sys

ENV = "TIERSWEEP_FORBID_OPEN"


def forbid_opens() -> None:
    root = os.environ.get(ENV)
    if not root:
        return
    prefix = os.path.abspath(root) + os.sep

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
            path = os.path.abspath(os.fsdecode(args[0]))
            if path.startswith(prefix):
                raise PermissionError(f"{path}: a task opened a file of the driver's "
                                      f"(under {ENV}={root})")

    sys.addaudithook(hook)
