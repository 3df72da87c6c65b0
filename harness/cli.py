"""Command line: parses arguments and calls library functions.

Each subcommand lives in ``harness/commands/<name>.py`` with a
``register(subparsers)`` that adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from harness.errors import TiersweepError

COMMANDS = ["simulate", "bench", "calibrate", "report", "defaults", "trace", "sweep", "tune",
            "bench_harness", "bench_study", "compare", "schema"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiersweep",
        description="Simulate and tune slow-tier page promotion (kmmscand/kscand).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"harness.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # no command: list them
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except TiersweepError as exc:
        print(f"tiersweep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        resumable = args.command in ("sweep", "tune", "compare")
        print("tiersweep: interrupted" + ("; what finished is kept: rerun the same command "
                                          "to resume" if resumable else ""), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`tiersweep ... | head`): no traceback, and none at exit
        # when Python flushes stdout (the recipe of the signal module's docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        # Disk full, read-only or gone: one line with the path (the atomic
        # writer removed its temporary file; the next run marks this one
        # interrupted in the manifest).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tiersweep: error: {where}{exc.strerror or exc}; rerun the same command once "
              "it is fixed to resume", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
