"""What every fault test asks of airshift, and how it looks at a database to tell.

Why a row digest instead of counts: "the target is unchanged" must notice an UPDATE (a pause
flag, an overwritten run), not only inserts. ``comparable`` leaves out what a target assigns
anew on every import (surrogate ids, Fernet ciphertext) so a re-run after a kill can be held
row by row to a clean run.

Each test can add its outcome to a JSON-lines file (``AIRSHIFT_FAULTS_RECORD``); the
reliability script (``scripts/reliability``) turns those lines into docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import sqlalchemy as sa

from airshift import db
from airshift.metadata.registry import TABLES
from tests.metadata.test_export import CLI, airshift

__all__ = ["CLI", "airshift", "assert_clear_error", "comparable", "record", "snapshot"]


def _rows(url: str, keep) -> dict[str, list[str]]:
    """Every table's rows as sorted JSON lines, each row cut to the columns ``keep`` names."""
    eng = db.engine_for(url)
    try:
        md = sa.MetaData()
        md.reflect(eng)
        out = {}
        with eng.connect() as conn:
            for table in md.sorted_tables:
                cols = [c for c in table.c if keep(table.name, c)]
                got = conn.execute(sa.select(*cols)).fetchall() if cols else []
                out[table.name] = sorted(json.dumps(list(r), default=str) for r in got)
        return out
    finally:
        eng.dispose()


def snapshot(url: str) -> dict[str, str]:
    """A digest of every row of every table: equal snapshots mean nothing was written."""
    return {
        name: hashlib.sha256("\n".join(lines).encode()).hexdigest()
        for name, lines in _rows(url, lambda t, c: True).items()
    }


def _assigned_anew(table: str, column: sa.Column) -> bool:
    """A column whose values each import makes anew: surrogate keys and references to them
    (integers the target assigns, UUIDs Airflow's migrations generate), Fernet ciphertext
    (randomised), and what the registry says the target owns."""
    if column.name in ("id", "ti_id") or isinstance(column.type, sa.Uuid):
        return True
    spec = TABLES.get(table)
    return spec is not None and (
        column.name == spec.pk
        or column.name in spec.refs
        or column.name in spec.secrets
        or column.name in spec.target_owned
    )


def comparable(url: str) -> dict[str, list[str]]:
    """Every row, without the columns the target assigns itself: two imports of one archive
    into two copies of one target give equal results."""
    return _rows(url, lambda t, c: not _assigned_anew(t, c))


def assert_clear_error(proc: subprocess.CompletedProcess, code: int, needle: str) -> str:
    """The run failed the documented way: exit ``code``, one paragraph on stderr that starts
    with ``error:`` and says ``needle``, no traceback. Returns the paragraph."""
    err = proc.stderr.strip()
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}: {err[-3000:]}"
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, err[-3000:]
    message = err.splitlines()[-1] if err else ""
    assert message.startswith("error: "), err[-3000:]
    paragraph = message.removeprefix("error: ")
    assert re.search(needle, paragraph, re.IGNORECASE), paragraph
    return paragraph


def record(suite: str, **fields: object) -> None:
    """Add one outcome to the run's record (when the reliability script asked for one)."""
    path = os.environ.get("AIRSHIFT_FAULTS_RECORD")
    if path:
        with Path(path).open("a") as fh:
            fh.write(json.dumps({"suite": suite, **fields}, default=str) + "\n")
