"""Errors that airshift reports to a person as one clear paragraph.

Why a single exception type: the CLI turns any ``AirshiftError`` into a message and an
exit code instead of a traceback, so library code raises it wherever the cause is the
user's input or environment (unreachable database, wrong key, corrupt archive, ...).
"""

from __future__ import annotations


class ExitCode:
    """Exit codes with a meaning that automation can rely on."""

    OK = 0
    FAILED = 1  # the command ran and found problems (verify differences, check findings)
    USAGE = 2  # bad arguments or bad input (unreachable DB, not an Airflow DB, bad archive)
    CONFLICT = 3  # rows conflict with the target and --on-conflict fail was asked for
    INTERRUPTED = 130


class AirshiftError(Exception):
    """A failure whose message is written for the person running airshift."""

    def __init__(self, message: str, exit_code: int = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
