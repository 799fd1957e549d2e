"""A catalogue of bad inputs: each refused with one clear paragraph, its documented exit code
(README: 2 bad input, 3 conflicting rows), no traceback, and nothing changed.

Why a table of cases rather than a test each: every case asks the same four things of
airshift, and the table is what docs/reliability.md prints (``scripts/reliability``). A
case damages a private copy (``Lab.copy_archive``, ``Lab.copy_sqlite``) of the module's
archive, source or target; the source and the target a case names are compared row by row
before and after (``lab.snapshot``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from airshift import versions
from tests.faults.conftest import Lab
from tests.faults.lab import airshift, assert_clear_error, record, snapshot
from tests.realairflow.versions import AIRFLOW_3_4

PG = "postgresql://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # the bad input, as docs/reliability.md names it
    make: Callable[[Lab], list[str]]  # the command line, after preparing the bad input
    needle: str  # what the message must say (a regular expression)
    code: int = 2


def _sql(url: str, *statements: str) -> str:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        for s in statements:
            conn.execute(s)
    return url


def _at_revision(lab: Lab, url: str, revision: str) -> str:
    return _sql(lab.copy_sqlite(url), f"UPDATE alembic_version SET version_num = '{revision}'")


def _export(lab: Lab, source: str, *extra: str) -> list[str]:
    return [
        "export",
        source,
        "--to",
        str(lab.tmp / "never"),
        "--fernet-key",
        lab.source_key,
        *extra,
    ]


def _damaged(lab: Lab, damage: Callable[[Path], object]) -> list[str]:
    archive = lab.copy_archive()
    damage(archive)
    return lab.import_args(archive)


def _part(archive: Path, table: str = "dag_run") -> Path:
    return archive / "tables" / table / "part-00000.parquet"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_manifest(archive: Path, edit: Callable[[dict], object]) -> None:
    path = archive / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _half_written(archive: Path) -> None:
    (archive / "manifest.json").unlink()
    (archive / ".airshift-incomplete").touch()


def _not_airflow(lab: Lab) -> str:
    url = f"sqlite:///{lab.tmp / 'not_airflow.db'}"
    return _sql(url, "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")


def _not_a_database(lab: Lab) -> str:
    path = lab.tmp / "notes.db"
    path.write_text("this is a text file, not a database\n" * 100)
    return f"sqlite:///{path}"


def _target_with_own_secret(lab: Lab) -> str:
    token = Fernet(lab.target_key.encode()).encrypt(b"the target's own").decode()
    return _sql(
        lab.copy_sqlite(lab.target),
        f"INSERT INTO variable (key, val, is_encrypted) VALUES ('own', '{token}', 1)",
    )


def _with_key(args: list[str], option: str, value: str | None) -> list[str]:
    """``args`` with ``option``'s value replaced (or the option left out when None)."""
    at = args.index(option)
    return (
        args[:at] + args[at + 2 :] if value is None else [*args[: at + 1], value, *args[at + 2 :]]
    )


def _newer_revision() -> str:
    head = versions.head_of(AIRFLOW_3_4)
    assert head
    return head


CASES = [
    # -- databases ------------------------------------------------------------------------
    Case(
        "no-server",
        "source URL: no server listens on the port",
        lambda lab: _export(lab, "postgresql://postgres@127.0.0.1:9/airflow"),
        r"Cannot connect to postgresql.*127\.0\.0\.1:9",
    ),
    Case(
        "unknown-role",
        "source URL: credentials refused (a role the server does not have)",
        lambda lab: _export(lab, f"{PG.replace('postgres@', 'reliability_nobody:pw@')}/postgres"),
        r"Cannot connect.*reliability_nobody",
    ),
    Case(
        "no-such-database",
        "source URL: the server has no such database",
        lambda lab: _export(lab, f"{PG}/reliability_no_such_db"),
        r"reliability_no_such_db",
    ),
    Case(
        "unsupported-backend",
        "source URL: a backend Airflow does not run on",
        lambda lab: _export(lab, "oracle://scott@127.0.0.1/orcl"),
        r"Unsupported database 'oracle'",
    ),
    Case(
        "missing-sqlite-file",
        "source URL: a SQLite file that does not exist",
        lambda lab: _export(lab, f"sqlite:///{lab.tmp / 'nothing-here.db'}"),
        r"nothing-here\.db",
    ),
    Case(
        "not-a-database-file",
        "source URL: a file that is not a database",
        lambda lab: _export(lab, _not_a_database(lab)),
        r"notes\.db",
    ),
    Case(
        "not-airflow",
        "source: a database that is not Airflow's (no alembic_version)",
        lambda lab: _export(lab, _not_airflow(lab)),
        r"not an Airflow metadata database",
    ),
    Case(
        "unknown-revision",
        "source: an Alembic revision no Airflow release has",
        lambda lab: _export(lab, _at_revision(lab, lab.source, "0123456789ab")),
        r"0123456789ab",
    ),
    Case(
        "target-mid-migration",
        "target: mid-migration (two rows in alembic_version)",
        lambda lab: lab.import_args(
            target=_sql(
                lab.copy_sqlite(lab.target),
                "INSERT INTO alembic_version (version_num) VALUES ('0123456789ab')",
            )
        ),
        r"2 rows in alembic_version",
    ),
    # A target newer than the merge knows: no installable Airflow is newer than the newest
    # head the merge knows (3.4.0b2), so that refusal is held by a unit test instead
    # (tests/metadata/test_import.py::test_a_target_newer_than_the_merge_knows_is_refused).
    Case(
        "target-unknown-revision",
        "target: an Alembic revision no Airflow release has",
        lambda lab: lab.import_args(target=_at_revision(lab, lab.target, "0123456789ab")),
        r"0123456789ab",
    ),
    Case(
        "target-unreachable",
        "target URL: no server listens on the port",
        lambda lab: lab.import_args(target="postgresql://postgres@127.0.0.1:9/airflow"),
        r"Cannot connect to postgresql",
    ),
    Case(
        "target-not-airflow",
        "target: a database that is not Airflow's",
        lambda lab: lab.import_args(target=_not_airflow(lab)),
        r"not an Airflow metadata database",
    ),
    # -- archives -------------------------------------------------------------------------
    Case(
        "archive-missing",
        "archive: the location holds nothing",
        lambda lab: lab.import_args(lab.tmp / "no-archive-here"),
        r"no-archive-here",
    ),
    Case(
        "archive-half-written",
        "archive: half-written (an export killed before its manifest)",
        lambda lab: _damaged(lab, _half_written),
        r"interrupted before it finished",
    ),
    Case(
        "archive-no-manifest",
        "archive: a folder of table files without a manifest",
        lambda lab: _damaged(lab, lambda a: (a / "manifest.json").unlink()),
        r"not a complete airshift archive",
    ),
    Case(
        "archive-truncated",
        "archive: a table file truncated",
        lambda lab: _damaged(lab, lambda a: _truncate(_part(a))),
        r"damaged.*truncated",
    ),
    Case(
        "archive-bit-flip",
        "archive: one bit flipped in a table file",
        lambda lab: _damaged(lab, lambda a: _flip_bit(_part(a, "task_instance"))),
        r"damaged.*SHA-256 mismatch",
    ),
    Case(
        "archive-file-missing",
        "archive: a table file missing",
        lambda lab: _damaged(lab, lambda a: _part(a, "xcom").unlink()),
        r"damaged.*missing",
    ),
    Case(
        "manifest-not-json",
        "archive: manifest.json is not JSON",
        lambda lab: _damaged(lab, lambda a: (a / "manifest.json").write_text("{ not json")),
        r"manifest .* is corrupt",
    ),
    Case(
        "manifest-truncated",
        "archive: manifest.json truncated",
        lambda lab: _damaged(lab, lambda a: _truncate(a / "manifest.json")),
        r"manifest .* is corrupt",
    ),
    Case(
        "manifest-no-tables",
        "archive: manifest edited (its table list removed)",
        lambda lab: _damaged(lab, lambda a: _edit_manifest(a, lambda m: m.pop("tables"))),
        r"manifest .* is corrupt",
    ),
    Case(
        "manifest-checksum-edited",
        "archive: manifest edited (a file's checksum changed)",
        lambda lab: _damaged(
            lab,
            lambda a: _edit_manifest(
                a, lambda m: m["tables"]["dag_run"]["files"][0].update(sha256="0" * 64)
            ),
        ),
        r"damaged.*SHA-256 mismatch",
    ),
    Case(
        "manifest-unknown-revision",
        "archive: manifest edited (a source revision no release has)",
        lambda lab: _damaged(
            lab,
            lambda a: _edit_manifest(
                a, lambda m: m["source"].update(alembic_revision="0123456789ab")
            ),
        ),
        r"0123456789ab",
    ),
    Case(
        "archive-newer-than-target",
        "archive: from a newer Airflow (3.4) than the target (3.3.2)",
        lambda lab: _damaged(
            lab,
            lambda a: _edit_manifest(
                a, lambda m: m["source"].update(alembic_revision=_newer_revision())
            ),
        ),
        r"older than the archive's source",
    ),
    Case(
        "archive-newer-airshift",
        "archive: written by a newer airshift (format 2)",
        lambda lab: _damaged(
            lab, lambda a: _edit_manifest(a, lambda m: m.update(format_version=2))
        ),
        r"format 2.*Upgrade airshift",
    ),
    # -- keys -----------------------------------------------------------------------------
    Case(
        "wrong-archive-key",
        "archive key: a valid key, not this archive's",
        lambda lab: _with_key(lab.import_args(), "--archive-key", Fernet.generate_key().decode()),
        r"archive key is wrong",
    ),
    Case(
        "malformed-archive-key",
        "archive key: not a key at all",
        lambda lab: _with_key(lab.import_args(), "--archive-key", "hunter2"),
        r"archive key is wrong",
    ),
    Case(
        "missing-archive-key",
        "archive key: not given for an archive with sealed secrets",
        lambda lab: _with_key(lab.import_args(), "--archive-key", None),
        r"sealed secrets: pass its key with --archive-key",
    ),
    Case(
        "wrong-target-key",
        "target Fernet key: a valid key, not the target's",
        lambda lab: _with_key(
            lab.import_args(target=_target_with_own_secret(lab)),
            "--target-fernet-key",
            Fernet.generate_key().decode(),
        ),
        r"does not decrypt the target's own variables",
    ),
    Case(
        "malformed-target-key",
        "target Fernet key: not a key at all",
        lambda lab: _with_key(lab.import_args(), "--target-fernet-key", "hunter2"),
        r"not a valid Fernet key",
    ),
    Case(
        "wrong-source-key",
        "source Fernet key: a valid key, not the source's",
        lambda lab: _with_key(
            _export(lab, lab.source), "--fernet-key", Fernet.generate_key().decode()
        ),
        r"does not decrypt .* wrong key",
    ),
    Case(
        "malformed-source-key",
        "source Fernet key: not a key at all",
        lambda lab: _with_key(_export(lab, lab.source), "--fernet-key", "hunter2"),
        r"not a valid Fernet key",
    ),
    Case(
        "missing-source-key",
        "source Fernet key: not given, and the source has encrypted secrets",
        lambda lab: _with_key(_export(lab, lab.source), "--fernet-key", None),
        r"encrypted, but no .*key was given",
    ),
    # -- archive locations and options ----------------------------------------------------
    Case(
        "export-over-archive",
        "archive location: already holds an archive",
        lambda lab: [
            *_export(lab, lab.source)[:3],
            str(lab.archive),
            *_export(lab, lab.source)[4:],
        ],
        r"is not empty.*never overwrites",
    ),
    Case(
        "export-unwritable",
        "archive location: cannot be written",
        lambda lab: [
            *_export(lab, lab.source)[:3],
            "/proc/airshift-archive",
            *_export(lab, lab.source)[4:],
        ],
        r"Cannot write to the archive location",
    ),
    Case(
        "bad-since",
        "--since: not a date",
        lambda lab: _export(lab, lab.source, "--since", "last tuesday"),
        r"--since takes an ISO date",
    ),
]


def _state(url: str) -> object:
    path = Path(url.removeprefix("sqlite:///"))
    is_db = path.read_bytes()[:16] == b"SQLite format 3\x00"
    return snapshot(url) if is_db else path.read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(lab, case: Case) -> None:
    watched = {"source": lab.source, "target": lab.target}
    before = {k: snapshot(u) for k, u in watched.items()}
    args = case.make(lab)
    # A file the case made: compared row by row, or byte for byte when it is no database
    # (a database's bytes change when a reader checkpoints its write-ahead log).
    given = [a for a in args if a.startswith("sqlite:///") and Path(a[10:]).is_file()]
    given_before = {a: _state(a) for a in given}
    proc = airshift(*args)
    message = assert_clear_error(proc, case.code, case.needle)
    assert {k: snapshot(u) for k, u in watched.items()} == before
    assert {a: _state(a) for a in given} == given_before
    never = lab.tmp / "never"  # where the export cases write: a failed export leaves nothing
    assert not never.exists() or not any(never.iterdir())
    record("bad_inputs", case=case.name, what=case.what, exit_code=proc.returncode, message=message)


def test_with_json_an_error_is_a_json_object_too(lab) -> None:
    wrong = [*lab.import_args(), "--json"]
    wrong[wrong.index("--archive-key") + 1] = Fernet.generate_key().decode()
    proc = airshift(*wrong)
    message = assert_clear_error(proc, 2, r"archive key is wrong")
    assert json.loads(proc.stdout) == {"error": message, "kind": "WrongKey", "exit_code": 2}
