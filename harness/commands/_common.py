"""Arguments shared by the sweep, tune and compare commands, and their flag names in errors."""

from __future__ import annotations

import contextlib
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
    p.add_argument("--backend", choices=["ray", "inline"], default="ray",
                   help="ray (default) or inline: run in this process, one at a time")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def add_run_args(p) -> None:
    p.add_argument("config", help="experiment YAML (base config, suite, seeds, sweep/study)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: results/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the base run config (repeatable)")
    add_backend_args(p)


def out_dir(args, name: str) -> Path:
    return Path(args.out) if args.out else Path("results") / name


def command_line() -> list[str]:
    return ["tiersweep", *sys.argv[1:]]


def backend_from(args):
    from harness.run.backends import make_backend

    return make_backend(args.backend, address=args.address, cpus=args.cpus)


# Library errors name the value they are about ("cpus: expected at least 1 CPU");
# on the command line the same error names the flag that set it ("--cpus: ...").
FLAGS = {"cpus": "--cpus", "storage": "--storage", "policies": "--policies"}


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
