"""Errors that airshift reports to a person as one clear paragraph.

Why one base type: the CLI turns any ``AirshiftError`` into its message and exit code
instead of a traceback, so library code raises one wherever the cause is the user's
input or environment. The subclasses name the causes a caller may want to tell apart
(retry when the database was unreachable, ask for another key, make a new archive);
each keeps the message and exit code that cause always had.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes with a meaning that automation can rely on."""

    OK = 0
    FAILED = 1  # the command ran and found problems (verify differences, check findings)
    USAGE = 2  # bad arguments or bad input (unreachable DB, not an Airflow DB, bad archive)
    CONFLICT = 3  # rows conflict with the target and --on-conflict fail was asked for
    INTERRUPTED = 130


class AirshiftError(Exception):
    """A failure whose message is written for the person running airshift."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class AirflowCommandFailed(AirshiftError):
    """An Airflow CLI command airshift ran failed; ``output`` is all it said (the message
    keeps only its tail)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class UnreachableDatabase(AirshiftError):
    """The database cannot be opened: no server answers, credentials are refused, no file."""


class NotAirflowDatabase(AirshiftError):
    """The database answers but is not an Airflow metadata database airshift can read."""


class UnknownRevision(AirshiftError):
    """A schema revision or Airflow version that no release airshift knows has."""


class WrongKey(AirshiftError):
    """A Fernet or archive key is wrong, malformed, or missing where secrets need one."""


class DamagedArchive(AirshiftError):
    """An archive that is incomplete, or whose files do not match their checksums."""


class TargetTooOld(AirshiftError):
    """The target's schema is older than the source's: history only moves forward."""


class ConflictError(AirshiftError):
    """Rows conflict with the target's own, and ``--on-conflict fail`` was asked for."""

    exit_code = ExitCode.CONFLICT
