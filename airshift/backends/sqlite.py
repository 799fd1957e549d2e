"""SQLite: one file, one writer, and migrations that need three fixes to keep every row.

Why it differs: a SQLite database is a file (a scratch database is a temp folder, not a
CREATE DATABASE), only one connection writes at a time, the store has no column types
of its own (an INTEGER column may hold REALs), and Airflow's own migrations lose or
shift rows on it unless run with the fixes below (``docs/migration-losses.md``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from airshift.backends.base import Adapter, Backend, is_timestamp, naive_utc
from airshift.errors import AirshiftError, UnreachableDatabase

if TYPE_CHECKING:
    from airshift.airflow_env import AirflowEnv

_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own storage format for SQLite DATETIME


def _sqlite_timestamp(v: Any) -> Any:
    return naive_utc(v).strftime(_TIMESTAMP) if isinstance(v, dt.datetime) else v


# Runs ``airflow db migrate`` with four SQLite fixes (docs/migration-losses.md):
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


class SQLite(Backend):
    name = "sqlite"
    schemes = ("sqlite",)
    driver = "sqlite"
    concurrent_writers = False
    snapshot_isolation = None
    snapshot_begin = "BEGIN"  # pysqlite does not begin on SELECT by itself

    def on_connect(self, dbapi_conn: Any, record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def require_database(self, url: URL) -> None:
        path = url.database
        if not path or not Path(path).is_file():
            raise UnreachableDatabase(f"No SQLite database at {path!r}.")

    @contextlib.contextmanager
    def scratch_database(
        self, url: URL, prefix: str, log: Callable[[str], object], copy_of: str | None = None
    ) -> Iterator[str]:
        """A file in a new temp folder (removed on exit); a file needs no name of its own.
        (No ``copy_of``: SQLite has no server that copies databases.)

        The folder's lock file is held (``flock``) while the scratch is in use; the kernel
        releases it when the process ends, however it ends, so a folder under ``prefix``
        whose lock can be taken is what a killed run left, and is removed."""
        assert copy_of is None, "SQLite copies no databases (copies_databases is False)"
        root = Path(tempfile.gettempdir())
        for leftover in root.glob(f"{prefix}*"):
            with contextlib.suppress(OSError), (leftover / ".lock").open("a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(leftover, ignore_errors=True)
                log(f"removed {leftover}, a scratch database an interrupted run left behind")
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        with (folder / ".lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                yield f"sqlite:///{folder / 'scratch.db'}"
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    def db_migrate(self, env: AirflowEnv, args: list[str], url: str, home: Path) -> None:
        """With the fixes of ``_SQLITE_SAFE_MIGRATE``, then a check that no reference broke."""
        script = home / "airshift_sqlite_migrate.py"
        script.write_text(_SQLITE_SAFE_MIGRATE)
        env.run(["python", str(script), *args], home=home, db_url=url)
        engine = sa.create_engine(url)
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

    def table_bytes(self, conn: sa.Connection) -> dict[str, int]:
        try:
            return {
                n: int(b)
                for n, b in conn.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"
                )
            }
        except sa.exc.DBAPIError:  # SQLite built without the dbstat table
            conn.rollback()
            return {}

    def real_in_integer_columns(self, table: sa.Table, conn: sa.Connection) -> set[str]:
        """SQLite stores what it is given (for example Airflow 2's task_reschedule.duration),
        and an int64 column would silently truncate those values."""
        found = set()
        for c in table.columns:
            if isinstance(c.type, sa.Integer):
                probe = sa.select(sa.literal(1)).where(sa.func.typeof(c) == "real").limit(1)
                if conn.execute(probe).first():
                    found.add(c.name)
        return found

    def adapter(self, column_type: sa.types.TypeEngine) -> Adapter | None:
        return _sqlite_timestamp if is_timestamp(column_type) else super().adapter(column_type)
