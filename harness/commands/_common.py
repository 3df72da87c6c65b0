"""Arguments shared by the sweep, tune and compare commands, and their flag names in errors."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from harness.errors import TiersweepError


def add_backend_args(p) -> None:
    p.add_argument("--cpus", type=int, default=None, metavar="N",
                   help="CPUs for local Ray (default: all); on a cluster, the most "
                        "simulations in parallel")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="connect to this Ray cluster instead of starting local Ray "
                        "(default: $RAY_ADDRESS if set)")
    p.add_argument("--connect-timeout", type=float, default=None, metavar="S",
                   help="with --address: give up if the cluster does not answer in S seconds "
                        "(default 30)")
    p.add_argument("--backend", choices=["ray", "ray-actors", "inline"], default="ray",
                   help="ray (default): Ray tasks; ray-actors: one long-lived Ray actor per "
                        "CPU slot; inline: run in this process, one at a time")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def add_run_args(p) -> None:
    p.add_argument("config", help="experiment YAML (base config, suite, seeds, sweep/study)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: results/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the base run config (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (evaluations, those already done, a time estimate "
                        "from one timed simulation per workload) and stop; writes nothing")
    add_backend_args(p)


def out_dir(args, name: str) -> Path:
    from harness.run.store.layout import default_run_dir

    return Path(args.out) if args.out else default_run_dir(name)


def command_line() -> list[str]:
    return ["tiersweep", *sys.argv[1:]]


def check_backend_args(args) -> None:
    """The backend flags, before anything is created (the run directory, Ray):
    counts and times > 0, and --address answering."""
    from harness.errors import InputError
    from harness.run.backends.ray import CONNECT_TIMEOUT_S, check_cpus, check_reachable

    if args.connect_timeout is not None and not args.connect_timeout > 0:
        raise InputError(f"--connect-timeout: expected seconds > 0, not {args.connect_timeout}")
    address = args.address or os.environ.get("RAY_ADDRESS")
    with flag_names():
        check_cpus(args.cpus)
        if args.backend == "ray" and address:
            check_reachable(address, args.connect_timeout or CONNECT_TIMEOUT_S)


def backend_from(args):
    from harness.run.backends import make_backend

    return make_backend(args.backend, address=args.address, cpus=args.cpus,
                        connect_timeout_s=args.connect_timeout)


# Library errors name the value they are about ("cpus: expected at least 1 CPU");
# on the command line the same error names the flag that set it ("--cpus: ...").
FLAGS = {"cpus": "--cpus", "storage": "--storage", "policies": "--policies",
         "address": "--address"}


def flag_message(msg: str, flags: dict[str, str] = FLAGS) -> str:
    from harness.run.store.layout import ANOTHER_RUN_DIR

    for field, flag in flags.items():
        if msg.startswith((f"{field}:", f"{field} ")):
            msg = flag + msg[len(field):]
            break
    return msg.replace(ANOTHER_RUN_DIR, f"{ANOTHER_RUN_DIR} (--out DIR)")


@contextlib.contextmanager
def flag_names(flags: dict[str, str] = FLAGS):
    """Re-raise a library error with the command line's flag names in its message."""
    try:
        yield
    except TiersweepError as exc:
        msg = flag_message(str(exc), flags)
        if msg == str(exc):
            raise
        new = type(exc)(msg)
        raise new.with_traceback(exc.__traceback__) from None
