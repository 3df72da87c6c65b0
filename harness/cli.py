"""Command line: parses arguments and calls library functions.

Each subcommand lives in ``harness/commands/<name>.py`` with a
``register(subparsers)`` that adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import os
import sys

from harness.errors import TiersweepError

USER_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR,
                    errno.EEXIST, errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP}

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


def _unknown_command(parser: argparse.ArgumentParser, word: str) -> str | None:
    """The one-line refusal of a misspelled subcommand, with the closest names."""
    if word.startswith("-"):
        return None
    names = next(a.choices for a in parser._actions  # noqa: SLF001 - argparse keeps them here
                 if isinstance(a, argparse._SubParsersAction))
    if word in names:
        return None
    near = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}?" if near else "see tiersweep --help"
    return f"unknown command {word!r}; {hint}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # no command: list them
        parser.print_help(sys.stderr)
        return 2
    words = sys.argv[1:] if argv is None else argv
    unknown = _unknown_command(parser, words[0])
    if unknown:
        parser.print_usage(sys.stderr)
        print(f"tiersweep: error: {unknown}", file=sys.stderr)
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
        # A path the user gave that cannot be used is their input (2); a disk
        # that fills or fails under the run is not (1).
        return 2 if exc.errno in USER_PATH_ERRNOS else 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
