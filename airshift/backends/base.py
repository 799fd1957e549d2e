"""What every database backend does the same way; the subclasses override what differs.

Why a class per backend: PostgreSQL, MySQL/MariaDB and SQLite differ in a few dozen
places (how a snapshot begins, how rows are written fastest, which joins need an index,
what a DDL statement does to an open transaction). Each difference is said once, as a
capability attribute or a method of the backend's class, instead of as a test of the
dialect's name wherever it matters (the way alembic's ``DefaultImpl`` and its
``PostgresqlImpl``/``MySQLImpl``/``SQLiteImpl`` do).
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from airshift.errors import AirflowCommandFailed, AirshiftError

if TYPE_CHECKING:
    from airshift.airflow_env import AirflowEnv

Adapter = Callable[[Any], Any]
_BATCH = 5000  # rows per executemany where there is no COPY


def naive_utc(v: Any) -> Any:
    """An aware timestamp as naive UTC (how Airflow stores it where the type has no zone)."""
    return (
        v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if isinstance(v, dt.datetime) and v.tzinfo
        else v
    )


def hex_uuid(v: Any) -> Any:
    """A dashed UUID as the 32 hex digits Airflow stores in CHAR(32) columns."""
    return v.replace("-", "") if isinstance(v, str) and len(v) == 36 and v.count("-") == 4 else v


def is_timestamp(column_type: sa.types.TypeEngine) -> bool:
    return isinstance(column_type, sa.DateTime) or "TIMESTAMP" in str(column_type).upper()


def batch_rows(batch: pa.RecordBatch, names: list[str]) -> Iterable[tuple]:
    """Rows of an Arrow batch as tuples in ``names`` order (timestamps come out UTC-aware)."""
    columns = [batch.column(batch.schema.get_field_index(n)).to_pylist() for n in names]
    return zip(*columns, strict=True)


@dataclass(frozen=True)
class Into:
    """Where rows are written: the columns ``names`` of ``table``, on ``conn``."""

    conn: sa.Connection
    table: sa.Table
    names: list[str]


class Backend(abc.ABC):
    """A database backend: its capabilities, and the operations that differ by backend."""

    name: ClassVar[str]  # SQLAlchemy's backend name; also what archives record
    schemes: ClassVar[tuple[str, ...]]  # URL schemes that mean this backend
    driver: ClassVar[str]  # the SQLAlchemy driver airshift uses
    # The driver an Airflow runtime's CLI is given (the one its release installs with).
    airflow_driver: ClassVar[str | None] = None
    # Joins run as hash joins: a staging table needs no index for what it is joined on,
    # and a target without an index on a natural key can be joined as it is.
    hash_joins: ClassVar[bool] = False
    # More than one connection may write at once (a scratch load of several tables).
    concurrent_writers: ClassVar[bool] = True
    # A big insert can set the table's plain indexes and foreign keys aside, inside the
    # transaction, and rebuild them afterwards (see ``pg_bulk``).
    sets_indexes_aside: ClassVar[bool] = False
    # A merge can fill a table the target holds nothing in straight from its source, the
    # rows keeping their ids: other writers held off until it commits (``hold_writes``),
    # the table's id sequence moved past the ids it took (``follow_ids``).
    fills_empty_tables: ClassVar[bool] = False
    # Airflow stores UUIDs as CHAR(32) here (a native UUID type elsewhere).
    uuids_as_hex: ClassVar[bool] = True
    # A database holds schemas of its own: airshift's tables can keep out of Airflow's.
    own_schemas: ClassVar[bool] = False
    # CREATE DATABASE can copy another database (``TEMPLATE``): a schema built once is
    # copied in a moment instead of being built by Airflow's CLI again.
    copies_databases: ClassVar[bool] = False
    # A read-only transaction that sees one consistent state of the database: the
    # isolation level it needs (None: the driver's own), and the statement that begins it.
    snapshot_isolation: ClassVar[str | None] = "REPEATABLE READ"
    snapshot_begin: ClassVar[str]

    # -- connecting ------------------------------------------------------------------
    def connect_args(self, url: URL) -> dict[str, Any]:
        """Driver arguments for every connection to ``url``."""
        return {}

    def on_connect(self, dbapi_conn: Any, record: Any) -> None:  # noqa: B027 (a hook most backends leave empty)
        """Session settings for every new connection."""

    def require_database(self, url: URL) -> None:  # noqa: B027 (a hook most backends leave empty)
        """Fail clearly when ``url`` names no database (before any connection is tried)."""

    # -- databases -------------------------------------------------------------------
    def create_database(self, url: URL, name: str, template: str | None = None) -> URL:
        """Create database ``name`` on ``url``'s server; the URL of the new database."""
        raise AirshiftError(f"{self.name} has no server to create database {name!r} on.")

    def drop_database(self, url: URL, name: str) -> None:
        """Drop database ``name`` on ``url``'s server, if it exists."""
        raise AirshiftError(f"{self.name} has no server to drop database {name!r} on.")

    @abc.abstractmethod
    def scratch_database(
        self, url: URL, prefix: str, log: Callable[[str], object], copy_of: str | None = None
    ) -> contextlib.AbstractContextManager[str]:
        """A new, empty database beside ``url`` (its name begins with ``prefix``, where
        databases have names) for the scratch work; gone on exit. What a killed run left
        under the same prefix is dropped first (and said through ``log``). ``copy_of``: made
        as a copy of that database on the same server (``copies_databases`` only)."""

    def scratch_schema(
        self, url: URL, prefix: str, log: Callable[[str], object]
    ) -> contextlib.AbstractContextManager[str]:
        """A new, empty schema inside the database ``url`` for the scratch work (the URL of
        that database with the schema as its search path); gone on exit. For servers that
        refuse ``CREATE DATABASE`` (managed ones); what a killed run left is dropped first."""
        raise AirshiftError(
            f"{self.name} has no schemas inside a database: the scratch for the upgrade cannot "
            "be made in the target database. Upgrade the archive on your machine instead "
            "(`--upgrade-in here`)."
        )

    def scratch_session(self, url: str) -> str:
        """``url`` with the session settings a disposable scratch database may run with."""
        return url

    def mend_migration(self, url: str, failed: AirflowCommandFailed) -> bool:
        """Whether the scratch ``url`` was changed so that the ``db migrate`` that ``failed``
        can succeed when run again (PostgreSQL: a table it left unlogged made logged)."""
        return False

    def db_migrate(self, env: AirflowEnv, args: list[str], url: str, home: Path) -> None:
        """Run ``env``'s ``airflow db migrate ARGS`` on ``url``."""
        env.run(["db", "migrate", *args], home=home, db_url=url)

    # -- reading ---------------------------------------------------------------------
    def begin_snapshot(self, conn: sa.Connection) -> sa.Connection:
        """Start a read-only transaction that sees one consistent state of the database."""
        if self.snapshot_isolation:
            conn = conn.execution_options(isolation_level=self.snapshot_isolation)
        conn.exec_driver_sql(self.snapshot_begin)
        return conn

    def arrow_snapshot(self, conn: sa.Connection) -> str | None:
        """A snapshot of ``conn``'s transaction that Arrow readers can join (the export's
        fast path), or None where there is none."""
        return None

    def table_bytes(self, conn: sa.Connection) -> dict[str, int]:
        """Each table's size on disk, where the server says."""
        return {}

    def real_in_integer_columns(self, table: sa.Table, conn: sa.Connection) -> set[str]:
        """INTEGER columns of ``table`` that hold REAL values (a type-less store's data)."""
        return set()

    # -- writing ---------------------------------------------------------------------
    def adapter(self, column_type: sa.types.TypeEngine) -> Adapter | None:
        """How a value is adapted for writing into a column of this type, if at all."""
        if self.uuids_as_hex and isinstance(column_type, sa.String) and column_type.length == 32:
            return hex_uuid
        return None

    def adapted(self, into: Into, rows: Iterable[tuple]) -> Iterable[tuple]:
        """``rows`` (tuples in ``into.names`` order) with each value adapted for its column."""
        adapt = [self.adapter(into.table.c[n].type) for n in into.names]
        if not any(adapt):
            return rows
        return (
            tuple(v if f is None or v is None else f(v) for v, f in zip(r, adapt, strict=True))
            for r in rows
        )

    def write_rows(self, into: Into, rows: Iterable[tuple]) -> int:
        """Append ``rows`` (tuples in ``into.names`` order); the count."""
        n = 0
        batch: list[dict] = []
        stmt = sa.table(into.table.name, *[sa.column(c) for c in into.names]).insert()
        for r in self.adapted(into, rows):
            batch.append(dict(zip(into.names, r, strict=True)))
            if len(batch) >= _BATCH:
                into.conn.execute(stmt, batch)
                n += len(batch)
                batch = []
        if batch:
            into.conn.execute(stmt, batch)
            n += len(batch)
        return n

    def write_batches(self, into: Into, batches: Iterable[pa.RecordBatch]) -> int:
        """Append Arrow ``batches`` (with at least the columns ``into.names``); the count."""
        return sum(self.write_rows(into, batch_rows(b, into.names)) for b in batches)

    def copy_rows(self, src: sa.Connection, query: sa.Select, into: Into) -> int:
        """Append ``query``'s rows, read on ``src`` (another database); the count."""
        result = src.execution_options(stream_results=True, yield_per=20_000).execute(query)
        return sum(
            self.write_rows(into, (tuple(r) for r in part)) for part in result.partitions(20_000)
        )

    @contextlib.contextmanager
    def bulk_load(
        self, engine: sa.Engine, tables: list[sa.Table], unlogged: list[str]
    ) -> Iterator[None]:
        """Around loading rows with explicit ids into a private database's ``tables`` (those
        that receive rows: the others are left as they are); those named in ``unlogged``
        may be written without durability where the backend can (a scratch is disposable)."""
        yield

    # -- the merge's temporary tables ------------------------------------------------
    def create_temp(self, conn: sa.Connection, table: sa.Table, index_on: list[list[str]]) -> None:
        """Create a temp table that will be indexed on ``index_on`` once filled."""
        table.create(conn)

    def index_temp(self, conn: sa.Connection, table: sa.Table, index_on: list[list[str]]) -> None:
        """Index a filled temp table (cheaper than keeping indexes up to date while filling)."""
        for i, cols in enumerate(index_on):
            sa.Index(f"{table.name}_ix{i}", *[table.c[c] for c in cols]).create(conn)

    def drop_temp(self, conn: sa.Connection, table: sa.Table) -> None:
        conn.exec_driver_sql(f"DROP TABLE {conn.dialect.identifier_preparer.quote(table.name)}")

    def analyze(self, conn: sa.Connection, table: sa.Table, light: bool) -> None:  # noqa: B027 (a hook most backends leave empty)
        """Fresh planner statistics for ``table`` (``light``: a small sample will do)."""

    def null_safe_eq(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """``a`` equals ``b``, NULL equal to NULL, in a form the planner can join on."""
        return a.is_not_distinct_from(b)

    def in_written_order(self, select: sa.Select) -> sa.Select:
        """``select`` joined in the order it is written, where the planner may not."""
        return select

    def set_aside(self, conn: sa.Connection, tables: list[str]) -> Any:
        """Set the plain indexes and foreign keys of ``tables`` aside (``sets_indexes_aside``)."""
        raise NotImplementedError(f"{self.name} does not set indexes aside")

    def restore(self, conn: sa.Connection, aside: Any) -> None:
        """Re-create what ``set_aside`` set aside."""
        raise NotImplementedError(f"{self.name} does not set indexes aside")

    def hold_writes(self, conn: sa.Connection, table: sa.Table) -> None:
        """Keep other sessions from writing ``table`` (reading stays open) until the
        transaction ends (``fills_empty_tables``)."""
        raise NotImplementedError(f"{self.name} does not fill empty tables")

    def follow_ids(self, conn: sa.Connection, table: sa.Table, column: str) -> None:
        """Move the sequence that numbers ``column`` past the largest id ``table`` holds,
        so that the target's next row does not take one of the ids a merge kept."""
        raise NotImplementedError(f"{self.name} does not fill empty tables")


class ServerBackend(Backend):
    """A backend with a server that holds many databases (PostgreSQL, MySQL/MariaDB)."""

    maintenance_database: ClassVar[str | None]  # where CREATE/DROP DATABASE are run
    create_database_sql: ClassVar[str]  # with {name}
    drop_database_sql: ClassVar[str]  # with {name}
    list_databases_sql: ClassVar[str]  # every database's name
    # A session-level lock named :name, taken without waiting (true when taken), and its release.
    try_lock_sql: ClassVar[str]
    unlock_sql: ClassVar[str]

    def create_sql(self, name: str, template: str | None) -> str:
        """CREATE DATABASE for ``name`` (copying ``template``, where the server can)."""
        return self.create_database_sql.format(name=name)

    def _server_url(self, url: URL) -> URL:
        """``url`` pointed at the server's maintenance database (MySQL: at no database;
        ``URL.set`` keeps a database given as None)."""
        return URL.create(
            url.drivername,
            url.username,
            url.password,
            url.host,
            url.port,
            self.maintenance_database,
            url.query,
        )

    def _on_server(self, url: URL, sql: str) -> None:
        """Run one statement on the server's maintenance database, outside any transaction."""
        engine = sa.create_engine(self._server_url(url), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def create_database(self, url: URL, name: str, template: str | None = None) -> URL:
        sql = self.create_sql(
            safe_identifier(name), safe_identifier(template) if template else None
        )
        try:
            self._on_server(url, sql)
        except DBAPIError as exc:
            raise AirshiftError(
                f"Cannot create database {name!r} on "
                f"{url.render_as_string(hide_password=True)}: {str(exc.orig).strip()}"
            ) from None
        return url.set(database=name)

    def drop_database(self, url: URL, name: str) -> None:
        self._on_server(url, self.drop_database_sql.format(name=safe_identifier(name)))

    @contextlib.contextmanager
    def scratch_database(
        self, url: URL, prefix: str, log: Callable[[str], object], copy_of: str | None = None
    ) -> Iterator[str]:
        """A new database on the target's own server (so types match the target's).

        Why a lock: a SIGKILL (or a lost machine) gives no chance to drop the scratch, and
        each one left is a full copy of the source's history. The run holds a session lock
        named after its scratch for as long as the scratch exists; the server releases it
        when the session dies, however the process ended. So a scratch under this target's
        prefix whose lock can be taken belongs to no running airshift, and is dropped."""
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        claims = sa.create_engine(
            self._server_url(url),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
        )
        try:
            with claims.connect() as held:
                self._claim(held, name)
                for leftover in self._leftovers(held, self.list_databases_sql, prefix, name):
                    self.drop_database(url, leftover)
                    held.execute(sa.text(self.unlock_sql), {"name": leftover})
                    log(f"dropped {leftover}, a scratch database an interrupted run left behind")
                try:
                    created = self.create_database(url, name, copy_of)
                except AirshiftError as exc:
                    raise AirshiftError(
                        f"{exc.message} airshift needs a scratch database on the target's server "
                        "to run Airflow's migrations; grant CREATE DATABASE or pass --scratch-url."
                    ) from None
                try:
                    yield created.render_as_string(hide_password=False)
                finally:
                    self.drop_database(url, name)
        finally:
            claims.dispose()

    def _claim(self, conn: sa.Connection, name: str) -> bool:
        return bool(conn.execute(sa.text(self.try_lock_sql), {"name": name}).scalar())

    def _leftovers(self, conn: sa.Connection, listing: str, prefix: str, ours: str) -> list[str]:
        """The databases (or schemas: ``listing`` names them) under ``prefix`` that no live
        session holds (claimed now by ``conn``)."""
        names = conn.execute(sa.text(listing)).scalars()
        found = [n for n in names if n.startswith(prefix) and n != ours]
        return [n for n in found if self._claim(conn, n)]


def safe_identifier(name: str) -> str:
    """``name``, if it is safe to put in SQL as a database name; else a clear error."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name):
        raise AirshiftError(f"{name!r} is not a safe database name (letters, digits, _).")
    return name
