"""The choices a person makes on the command line, as types the library takes too.

Why enums: Typer lists an enum's values in ``--help`` and refuses any other value before
a command starts, so no command validates its options by hand; and a library caller
passes the same types, so a typo is an error where it is made, not deep in an import.
"""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """A choice that reads as its value: in messages, JSON and ``--help``."""

    def __str__(self) -> str:
        return self.value


class OnConflict(Choice):
    """What an import does with a row whose natural key the target already holds."""

    SKIP = "skip"
    OVERWRITE = "overwrite"
    FAIL = "fail"  # nothing is imported (exit code 3)
    # the source's row replaces one that differs unless the target's is newer by the
    # table's ``newer_by`` columns (a cutover's delta; TableSpec)
    NEWER = "newer"


class Unpause(Choice):
    """The pause state of imported DAGs once the import is done."""

    SOURCE_STATE = "source-state"  # as they were in the source
    KEEP_PAUSED = "keep-paused"


class ExportSecrets(Choice):
    """What an export does with connections' and variables' secrets."""

    SEAL = "seal"  # re-encrypted with the archive key
    SKIP = "skip"  # left out


class ImportSecrets(Choice):
    """What an import does with the archive's sealed secrets."""

    IMPORT = "import"  # re-encrypted with the target's Fernet key
    SKIP = "skip"  # left out: connections without passwords, no variables


class CutoverPhase(Choice):
    """The phases of ``airshift cutover``, in order (``--stop-after`` names one)."""

    BULK = "bulk"  # export/upgrade/import everything while the source keeps running
    PAUSE = "pause"  # pause the source's DAGs, their prior states recorded first
    DRAIN = "drain"  # wait until no task of the source is executing
    DELTA = "delta"  # what changed since the bulk phase; the newer row wins
    VERIFY = "verify"  # every source row present and equal in the target
    UNPAUSE = "unpause"  # the source's active DAGs, on the target (catchup held)
