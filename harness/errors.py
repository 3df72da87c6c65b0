"""Errors that the CLI turns into one clear line and a non-zero exit."""


class TiersweepError(Exception):
    """Base class: the message is shown to the user as one line."""

    exit_code = 1


class ConfigError(TiersweepError):
    """A config file or override is wrong: names the file and the field path."""

    exit_code = 2


class InputError(TiersweepError):
    """An input file (trace, results directory) is missing or malformed."""

    exit_code = 2


class RayStartError(TiersweepError):
    """Local Ray (or its first worker) did not start: the machine, not the input
    nor a failure of ours; the message names the log folder and what to try."""

    exit_code = 3
