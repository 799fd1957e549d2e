"""The scratch database: where Airflow's own migrations transform archived rows.

Why: the only faithful way to move rows between schema revisions is to let Airflow's
Alembic migrations do it. airshift builds an empty database at the archive's revision
with the Airflow release that has that schema, loads the archive into it, and runs the
target release's ``airflow db migrate`` on it. The scratch lives on the target's own
server (so types match the target exactly) or in a temp folder for SQLite, and is
always dropped afterwards, also on failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from rich.progress import Progress

from airshift import airflow_env, db, versions
from airshift.archive import ArchiveReader
from airshift.errors import AirshiftError
from airshift.metadata import pg_bulk
from airshift.metadata.load import archive_codec, write_archive_table
from airshift.metadata.registry import SECRETS_LEFT_OUT
from airshift.metadata.source import AirflowDB


@dataclass
class LoadReport:
    """What went into the scratch database, and what could not."""

    loaded: dict[str, int] = field(default_factory=dict)
    not_loaded: dict[str, str] = field(default_factory=dict)  # table -> reason
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)


def scratch_prefix(target_url: str) -> str:
    """How the scratch databases made for one target database begin: each names its target
    (by a digest), so that what one import leaves behind can be told from another's."""
    target = db.parse_url(target_url).database or ""
    return f"airshift_scratch_{hashlib.sha256(target.encode()).hexdigest()[:8]}_"


@contextlib.contextmanager
def scratch_database(target_url: str, scratch_url: str | None = None) -> Iterator[str]:
    """A new empty database for the scratch work; dropped on exit, whatever happens."""
    if scratch_url:
        yield scratch_url
        return
    backend = db.backend_of(target_url)
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="airshift-scratch-"))
        try:
            yield f"sqlite:///{folder / 'scratch.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"{scratch_prefix(target_url)}{uuid.uuid4().hex[:8]}"
    try:
        url = db.create_database(target_url, name)
    except AirshiftError as exc:
        raise AirshiftError(
            f"{exc.message} airshift needs a scratch database on the target's server to run "
            "Airflow's migrations; grant CREATE DATABASE or pass --scratch-url."
        ) from None
    try:
        yield url
    finally:
        db.drop_database(target_url, name)


# Runs ``airflow db migrate`` with three SQLite fixes (docs/migration-losses.md):
# - Alembic's batch mode rebuilds a table by dropping it, and with foreign keys on (Airflow
#   turns them on for every connection) SQLite cascades that drop into the children:
#   Airflow 3's migration 0032 rebuilds dag_run and so deletes every task instance.
# - Airflow 3's migration 0060 binds uuid.UUID values, which sqlite3 cannot store.
# - Airflow 2.9.2's migration 0142 copies `connection` with INSERT ... SELECT *, by column
#   position, which shifts every value of a database that create_all made (2.7-2.9.1).
# - Airflow 3.0.x's migration 0042 gives task instances their UUIDs on SQLite with one
#   "UPDATE task_instance SET id = ? WHERE id IS NULL" per row, which sets every row to the
#   first UUID (then the primary key fails); 3.1 fixed it by updating one rowid at a time.
_SQLITE_SAFE_MIGRATE = r"""
import re, sqlite3, sys, uuid
import sqlalchemy
from sqlalchemy import event

sqlite3.register_adapter(uuid.UUID, str)
try:  # Airflow's uuid7() returns the uuid6 package's subclass; adapters match exact types
    import uuid6
    sqlite3.register_adapter(uuid6.UUID, str)
except ImportError:
    pass
_create_engine = sqlalchemy.create_engine


def _fk_off(dbapi_conn, record, proxy=None):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=OFF")
    cur.close()


_COPY_ALL = re.compile(r"^\s*INSERT INTO (\w+) SELECT \* FROM (\w+)\s*$", re.I)
_ALL_TI_IDS = re.compile(r"^\s*UPDATE task_instance\s+SET id = \?\s+WHERE id IS NULL\s*$", re.I)


def _by_name(conn, cursor, statement, parameters, context, executemany):
    # "INSERT INTO t_new SELECT * FROM t" copies by position; a table whose columns are in
    # another order (as create_all makes them) gets its values shifted. Copy by name.
    m = _COPY_ALL.match(statement)
    if m:
        raw = cursor.connection
        new = [r[1] for r in raw.execute(f"PRAGMA table_info({m.group(1)})")]
        old = {r[1] for r in raw.execute(f"PRAGMA table_info({m.group(2)})")}
        cols = ", ".join(f'"{c}"' for c in new if c in old)
        statement = f"INSERT INTO {m.group(1)} ({cols}) SELECT {cols} FROM {m.group(2)}"
    elif _ALL_TI_IDS.match(statement):
        # One row per UUID, as 3.1's fixed migration does.
        statement = (
            "UPDATE task_instance SET id = ? WHERE rowid = "
            "(SELECT min(rowid) FROM task_instance WHERE id IS NULL)"
        )
    return statement, parameters


def create_engine(*args, **kwargs):
    engine = _create_engine(*args, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.pool, "checkout", _fk_off)  # after Airflow's own connect hook
        event.listen(engine, "before_cursor_execute", _by_name, retval=True)
    return engine


sqlalchemy.create_engine = create_engine
from airflow.cli import cli_parser

args = cli_parser.get_parser().parse_args(["db", "migrate", *sys.argv[1:]])
args.func(args)
"""


def _db_migrate(env: airflow_env.AirflowEnv, args: list[str], url: str, home: Path) -> None:
    if db.backend_of(url) != "sqlite":
        env.run(["db", "migrate", *args], home=home, db_url=url)
        return
    script = home / "airshift_sqlite_migrate.py"
    script.write_text(_SQLITE_SAFE_MIGRATE)
    env.run(["python", str(script), *args], home=home, db_url=url)
    engine = db.engine_for(url)
    try:
        with engine.connect() as conn:
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    finally:
        engine.dispose()
    if broken:
        raise AirshiftError(
            f"Airflow {env.version}'s migration left {len(broken)} rows with broken "
            f"references in the scratch database (first: {broken[0]})."
        )


def build_at(revision: str, url: str, home: Path, log=print) -> airflow_env.AirflowEnv:
    """Create Airflow's schema at ``revision`` in the empty database ``url``."""
    exact = versions.releases_at(revision)
    release = airflow_env.prefer_installed(exact) if exact else versions.release_for(revision)
    env = airflow_env.ensure(release, log=log)
    _db_migrate(env, [] if exact else ["-r", revision], url, home)
    return env


def migrate_to(release: str, revision: str, url: str, home: Path, log=print) -> None:
    """Run ``release``'s own migrations on the scratch database up to ``revision``."""
    env = airflow_env.ensure(release, log=log)
    _db_migrate(env, [] if versions.head_of(release) == revision else ["-r", revision], url, home)


def load_archive(
    reader: ArchiveReader,
    scratch: AirflowDB,
    archive_key: str | None,
    target_fernet_key: str | None,
    progress: Progress | None = None,
    skip_secrets: bool = False,
    jobs: int = 1,
) -> LoadReport:
    """Replace the scratch's rows with the archive's, parents before children, ``jobs``
    tables at a time.

    Secrets are opened with the archive key and sealed with the target's Fernet key, so
    the scratch (on disk) never holds them in plaintext.
    """
    report = LoadReport()
    md = scratch.metadata
    present = [t for t in md.sorted_tables if t.name in reader.manifest.tables]
    for name in reader.manifest.tables:
        if name not in md.tables:
            report.not_loaded[name] = (
                f"no such table in the schema at revision {scratch.revision.revision}"
            )
    skip_secrets = skip_secrets or reader.manifest.secrets.get("mode") != "sealed"
    codec = None if skip_secrets else archive_codec(reader, archive_key, target_fernet_key)
    if skip_secrets and "variable" in reader.manifest.tables:
        report.not_loaded["variable"] = SECRETS_LEFT_OUT
        present = [t for t in present if t.name != "variable"]
    with scratch.engine.begin() as conn:
        for table in reversed(present):
            conn.execute(table.delete())

    def load(table: sa.Table) -> None:
        entry = reader.manifest.tables[table.name]
        names = [c["name"] for c in entry.columns if c["name"] in table.c]
        missing = [c["name"] for c in entry.columns if c["name"] not in table.c]
        if missing:
            report.dropped_columns[table.name] = missing
        task = progress.add_task(f"load {table.name}", total=entry.rows) if progress else None
        with scratch.engine.begin() as conn:
            report.loaded[table.name] = write_archive_table(
                conn,
                reader,
                table.name,
                table,
                names,
                codec,
                on_batch=(lambda n: progress.advance(task, n)) if progress else None,
            )

    # One transaction per table (the scratch is private: a failure discards it whole), so
    # tables whose parents are loaded can go in at once; on PostgreSQL, with foreign keys
    # and plain indexes set aside, all of them can.
    jobs = 1 if scratch.backend == "sqlite" else max(1, jobs)
    bulk = _bulk_load(scratch) if scratch.backend == "postgresql" else contextlib.nullcontext()
    with bulk, ThreadPoolExecutor(max_workers=jobs) as pool:
        levels = fk_levels(present) if scratch.backend != "postgresql" else [present]
        for level in levels:
            big_first = sorted(level, key=lambda t: -reader.manifest.tables[t.name].rows)
            for f in [pool.submit(load, t) for t in big_first]:
                f.result()
    if scratch.backend == "postgresql":
        with scratch.engine.begin() as conn:
            _advance_sequences(conn, present)
            conn.exec_driver_sql("ANALYZE")  # Airflow's migrations query these tables next
    return report


@contextlib.contextmanager
def _bulk_load(scratch: AirflowDB) -> Iterator[None]:
    """Foreign keys and plain indexes set aside for the load (``pg_bulk``): the scratch is
    private, so nobody sees it without them meanwhile."""
    with scratch.engine.begin() as conn:
        aside = pg_bulk.set_aside(conn)
    yield
    with scratch.engine.begin() as conn:
        pg_bulk.restore(conn, aside)


def fk_levels(tables: list[sa.Table]) -> list[list[sa.Table]]:
    """``tables`` grouped so that every table comes after the tables it references."""
    level: dict[str, int] = {}
    for t in tables:  # sorted_tables order: referenced tables come first
        parents = {fk.column.table.name for fk in t.foreign_keys} - {t.name}
        level[t.name] = 1 + max((level.get(p, -1) for p in parents), default=-1)
    out: list[list[sa.Table]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for t in tables:
        out[level[t.name]].append(t)
    return out


def _advance_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """After explicit ids were loaded, move each serial sequence past the largest id."""
    for t in tables:
        pk = list(t.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
            seq = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": t.name, "c": pk[0].name}
            ).scalar()
            if seq:
                conn.execute(
                    sa.text(
                        f"SELECT setval(:s, COALESCE((SELECT MAX({pk[0].name}) FROM {t.name}), 0) + 1, false)"
                    ),
                    {"s": seq},
                )


def max_id(sdb: AirflowDB, table: str) -> int:
    t = sdb.metadata.tables[table]
    with sdb.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0))).scalar_one()


def delete_newer(sdb: AirflowDB, table: str, last_id: int) -> int:
    """Remove rows the migration tools added after the archive was loaded."""
    t = sa.Table(table, sa.MetaData(), autoload_with=sdb.engine)
    with sdb.engine.begin() as conn:
        return conn.execute(sa.delete(t).where(t.c.id > last_id)).rowcount
