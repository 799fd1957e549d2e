"""PostgreSQL: COPY for every bulk write, hash joins, indexes set aside for big loads.

Why it differs most: PostgreSQL can stream rows in its own COPY format between servers
and from Arrow-made CSV, join staging tables by hashing (so they need no index), and set
a table's indexes and foreign keys aside inside a transaction; each of these is what
makes airshift fast there (``docs/benchmarks.md``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from airshift.backends import pg_arrow, pg_bulk
from airshift.backends.base import Into, ServerBackend, safe_identifier
from airshift.errors import AirflowCommandFailed, AirshiftError

if TYPE_CHECKING:
    from airshift.airflow_env import AirflowEnv

T = TypeVar("T")
# What a scratch's sessions run with, airshift's and Airflow's migrations' alike: it is
# disposable, so a commit need not wait for the disk, and its index builds (the load's
# restore, the migrations' CREATE INDEX) and the migrations' joins get room to sort.
_SCRATCH_SESSION = "-c synchronous_commit=off -c maintenance_work_mem=256MB -c work_mem=64MB"
# PostgreSQL's refusal of a logged table's foreign key to an unlogged one
_REFERENCES_UNLOGGED = "constraints on permanent tables may reference only permanent tables"
_LIST_SCHEMAS = "SELECT nspname FROM pg_namespace"
_NULL = "\x01airshift:null"  # stands for NULL in key joins; no Airflow key holds it


class PostgreSQL(ServerBackend):
    name = "postgresql"
    schemes = ("postgresql", "postgres")
    driver = "postgresql+psycopg"
    airflow_driver = "postgresql+psycopg2"
    maintenance_database = "postgres"
    create_database_sql = 'CREATE DATABASE "{name}"'
    drop_database_sql = 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    list_databases_sql = "SELECT datname FROM pg_database"
    try_lock_sql = "SELECT pg_try_advisory_lock(hashtextextended(:name, 0))"
    unlock_sql = "SELECT pg_advisory_unlock(hashtextextended(:name, 0))"
    snapshot_begin = "SET TRANSACTION READ ONLY"
    hash_joins = True
    sets_indexes_aside = True
    fills_empty_tables = True
    uuids_as_hex = False
    own_schemas = True
    copies_databases = True

    def connect_args(self, url: URL) -> dict[str, Any]:
        # UTC sessions: Airflow's timestamps are UTC and naive ones must stay so. The URL's
        # own options (a scratch schema's search_path) are kept: these replace them.
        given = url.query.get("options")
        given = given if isinstance(given, str) else " ".join(given or ())
        return {"options": " ".join(filter(None, ["-c TimeZone=UTC -c jit=off", given]))}

    @contextlib.contextmanager
    def scratch_schema(self, url: URL, prefix: str, log: Callable[[str], object]) -> Iterator[str]:
        """A schema of the target database; its connections find it first on their search
        path (``options=-csearch_path=...`` in the URL, which Airflow's own engine passes on
        too), so Airflow's migrations and airshift's reads work in it unchanged. Claimed by
        an advisory lock like a scratch database (``ServerBackend.scratch_database``)."""
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        claims = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with claims.connect() as held:
                self._claim(held, name)
                for leftover in self._leftovers(held, _LIST_SCHEMAS, prefix, name):
                    held.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{leftover}" CASCADE')
                    held.execute(sa.text(self.unlock_sql), {"name": leftover})
                    log(f"dropped schema {leftover}, a scratch an interrupted run left behind")
                try:
                    held.exec_driver_sql(f'CREATE SCHEMA "{safe_identifier(name)}"')
                except DBAPIError as exc:
                    raise AirshiftError(
                        f"Cannot create the scratch schema {name} in "
                        f"{url.render_as_string(hide_password=True)}: {str(exc.orig).strip()} "
                        "airshift runs Airflow's migrations in it; grant CREATE on the database."
                    ) from None
                try:
                    scratch = url.update_query_dict({"options": f"-csearch_path={name}"})
                    yield scratch.render_as_string(hide_password=False)
                finally:
                    held.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            claims.dispose()

    def scratch_session(self, url: str) -> str:
        parsed = make_url(url)
        given = parsed.query.get("options")
        given = given if isinstance(given, str) else " ".join(given or ())
        options = " ".join(filter(None, [given, _SCRATCH_SESSION]))
        return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)

    def db_migrate(self, env: AirflowEnv, args: list[str], url: str, home: Path) -> None:
        """Airflow's migrations, run again after each refusal ``mend_migration`` mends
        (Airflow runs each migration in its own transaction: the one refused left nothing
        behind, and the next run starts from it). Each mend makes at least one table
        logged, so the retries end."""
        while True:
            try:
                super().db_migrate(env, args, url, home)
                return
            except AirflowCommandFailed as exc:
                if not self.mend_migration(url, exc):
                    raise

    def mend_migration(self, url: str, failed: AirflowCommandFailed) -> bool:
        """When one of Airflow's migrations made a logged table reference a table the
        scratch load left UNLOGGED (``pg_bulk.unlog_leaves``), make the tables its
        statement references logged (all of them if it names none)."""
        if _REFERENCES_UNLOGGED not in failed.output:
            return False
        named = set(re.findall(r'REFERENCES\s+"?(\w+)"?', failed.output))
        parsed = make_url(url).set(drivername=self.driver)
        engine = sa.create_engine(parsed, connect_args=self.connect_args(parsed))
        try:
            with engine.begin() as conn:
                return bool(pg_bulk.make_logged(conn, named))
        finally:
            engine.dispose()

    def create_sql(self, name: str, template: str | None) -> str:
        return super().create_sql(name, template) + (f' TEMPLATE "{template}"' if template else "")

    def arrow_snapshot(self, conn: sa.Connection) -> str | None:
        return pg_arrow.export_snapshot(conn)

    def table_bytes(self, conn: sa.Connection) -> dict[str, int]:
        q = (
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        )
        return {n: int(b or 0) for n, b in conn.exec_driver_sql(q)}

    # -- writing: COPY ---------------------------------------------------------------
    def write_rows(self, into: Into, rows: Iterable[tuple]) -> int:
        n = 0
        with _cursor(into.conn) as cur, cur.copy(_copy_in(into)) as copy:
            for r in self.adapted(into, rows):
                copy.write_row(r)
                n += 1
        return n

    def write_batches(self, into: Into, batches: Iterable[pa.RecordBatch]) -> int:
        """The batches written as CSV by Arrow (in C) into one ``COPY``, so no value
        becomes a Python object except bytea, which COPY wants as hex text. The CSV is
        made in a second thread (``ahead``) while the server parses the previous chunk:
        the two overlap instead of taking turns."""
        n = 0
        with _cursor(into.conn) as cur, cur.copy(_copy_in(into, "(FORMAT csv)")) as copy:
            for rows, chunk in ahead(_csv_chunks(batches, into.names)):
                copy.write(chunk)
                n += rows
        return n

    def copy_rows(self, src: sa.Connection, query: sa.Select, into: Into) -> int:
        """From another PostgreSQL database: server to server in PostgreSQL's own text
        format. The blocks pass through this process without being parsed, so the cost
        is the servers' and memory holds one block at a time."""
        if not _same_driver(src, into.conn):
            return super().copy_rows(src, query, into)
        sql = query.compile(dialect=src.dialect, compile_kwargs={"literal_binds": True})
        with _cursor(src) as scur, _cursor(into.conn) as dcur:
            with (
                scur.copy(f"COPY ({sql}) TO STDOUT") as out,
                dcur.copy(_copy_in(into)) as copy,
            ):
                for block in out:
                    copy.write(block)
            return dcur.rowcount

    @contextlib.contextmanager
    def bulk_load(
        self, engine: sa.Engine, tables: list[sa.Table], unlogged: list[str]
    ) -> Iterator[None]:
        """Foreign keys and plain indexes of ``tables`` set aside for the load (``pg_bulk``):
        the database is private, so nobody sees it without them meanwhile; of ``unlogged``,
        the tables no other references are made UNLOGGED (``pg_bulk.unlog_leaves``).
        Afterwards each serial sequence moves past the ids loaded, and the planner gets
        statistics (Airflow's migrations query these tables next).

        Only ``tables``: a cutover's delta fills about half of the schema's tables, and
        dropping and re-creating the indexes of the empty rest, then analysing them, cost
        a few tenths of a second of its downtime for nothing."""
        names = [t.name for t in tables]
        if not names:
            yield
            return
        with engine.begin() as conn:
            pg_bulk.unlog_leaves(conn, unlogged)  # first: set_aside makes every table a leaf
            aside = pg_bulk.set_aside(conn, names)
        yield
        with engine.begin() as conn:
            pg_bulk.restore(conn, aside)
        with engine.begin() as conn:
            _advance_sequences(conn, tables)
            conn.exec_driver_sql("ANALYZE " + ", ".join(f'"{n}"' for n in names))

    # -- the merge -------------------------------------------------------------------
    def analyze(self, conn: sa.Connection, table: sa.Table, light: bool) -> None:
        """Temp tables get no statistics, and the target's are stale inside the merge's
        transaction, so PostgreSQL would plan for a handful of rows. ``light`` samples
        3,000 rows, not 30,000: joins need row counts and distinct counts, not fine
        histograms, and wide rows make sampling costly."""
        if light:
            conn.exec_driver_sql("SET LOCAL default_statistics_target = 10")
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')
        if light:
            conn.exec_driver_sql("RESET default_statistics_target")

    def null_safe_eq(self, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """As ``coalesce(text, sentinel)``: ``IS NOT DISTINCT FROM`` can only run as a
        nested loop here, which made the merge quadratic on the audit log."""
        return sa.func.coalesce(sa.cast(a, sa.Text), _NULL) == sa.func.coalesce(
            sa.cast(b, sa.Text), _NULL
        )

    def set_aside(self, conn: sa.Connection, tables: list[str]) -> pg_bulk.SetAside:
        return pg_bulk.set_aside(conn, tables)

    def restore(self, conn: sa.Connection, aside: pg_bulk.SetAside) -> None:
        pg_bulk.restore(conn, aside)

    def hold_writes(self, conn: sa.Connection, table: sa.Table) -> None:
        """``EXCLUSIVE``: the target's scheduler and UI still read the table."""
        conn.exec_driver_sql(f"LOCK TABLE {_quoted(conn, table)} IN EXCLUSIVE MODE")

    def follow_ids(self, conn: sa.Connection, table: sa.Table, column: str) -> None:
        _follow_ids(conn, table, column)


class Psycopg2(PostgreSQL):
    """PostgreSQL through psycopg2: the driver Airflow 2.x and 3.0 environments have, whose
    SQLAlchemy (1.4) has no psycopg 3 dialect (what the agent runs on there). The same
    COPYs, through psycopg2's ``copy_expert`` and file objects instead of psycopg 3's
    ``cursor.copy()``."""

    driver = "postgresql+psycopg2"

    def write_rows(self, into: Into, rows: Iterable[tuple]) -> int:
        """Batched inserts: psycopg2 has no row-by-row COPY writer, and the rows that come
        here are few (the secret tables; the Arrow batches go by ``write_batches``)."""
        return ServerBackend.write_rows(self, into, rows)

    def write_batches(self, into: Into, batches: Iterable[pa.RecordBatch]) -> int:
        """As psycopg 3's: Arrow's CSV (made ``ahead``) into one ``COPY``, read as a file."""
        with contextlib.closing(ahead(_csv_chunks(batches, into.names))) as chunks:
            source = _ChunkFile(chunks)
            with _cursor(into.conn) as cur:
                cur.copy_expert(_copy_in(into, "(FORMAT csv)"), source, size=1 << 20)
        return source.rows

    def copy_rows(self, src: sa.Connection, query: sa.Select, into: Into) -> int:
        """Server to server in PostgreSQL's text format, as psycopg 3's: the source's
        ``COPY TO`` writes into a pipe (in a thread) that the target's ``COPY FROM`` reads."""
        if not _same_driver(src, into.conn):
            return super().copy_rows(src, query, into)
        sql = query.compile(dialect=src.dialect, compile_kwargs={"literal_binds": True})
        failed: list[BaseException] = []
        read_fd, write_fd = os.pipe()
        with _cursor(src) as scur, _cursor(into.conn) as dcur, open(read_fd, "rb") as pipe_in:

            def copy_out() -> None:
                try:
                    with open(write_fd, "wb") as pipe_out:
                        scur.copy_expert(f"COPY ({sql}) TO STDOUT", pipe_out)
                except BaseException as exc:  # raised in the caller's thread below
                    failed.append(exc)

            worker = threading.Thread(target=copy_out, name="airshift-copy-out", daemon=True)
            worker.start()
            try:
                dcur.copy_expert(_copy_in(into), pipe_in)
            finally:
                pipe_in.close()  # a target that failed early: the writer stops (broken pipe)
                worker.join()
            if failed:
                raise failed[0]
            return dcur.rowcount


def installed() -> PostgreSQL:
    """The PostgreSQL backend of the driver this process can use: psycopg 3 where it is
    installed and SQLAlchemy has its dialect (SQLAlchemy 2), psycopg2 otherwise."""
    found = importlib.util.find_spec
    if found("psycopg") and found("sqlalchemy.dialects.postgresql.psycopg"):
        return PostgreSQL()
    return Psycopg2()


class _ChunkFile:
    """CSV chunks as the file ``copy_expert`` reads; counts the rows it handed over."""

    def __init__(self, chunks: Iterator[tuple[int, pa.Buffer]]) -> None:
        self._chunks = chunks
        self._left = memoryview(b"")
        self.rows = 0

    def read(self, size: int = -1) -> bytes:
        while not self._left:
            rows, chunk = next(self._chunks, (0, None))
            if chunk is None:
                return b""
            self.rows += rows
            self._left = memoryview(chunk)
        size = len(self._left) if size < 0 else size
        out, self._left = self._left[:size], self._left[size:]
        return out.tobytes()


def _same_driver(a: sa.Connection, b: sa.Connection) -> bool:
    return (a.dialect.name, a.dialect.driver) == (b.dialect.name, b.dialect.driver)


def _copy_in(into: Into, options: str = "") -> str:
    """``COPY table (names) FROM STDIN``, quoted for the connection."""
    prep = into.conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in into.names)
    return f"COPY {prep.quote(into.table.name)} ({cols}) FROM STDIN {options}".rstrip()


def _cursor(conn: sa.Connection) -> Any:
    """A cursor of ``conn``'s own psycopg connection (COPY is psycopg's, not SQLAlchemy's)."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _csv_chunks(
    batches: Iterable[pa.RecordBatch], names: list[str]
) -> Iterator[tuple[int, pa.Buffer]]:
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in batches:
        batch = pa.record_batch([_csv_ready(batch.column(c)) for c in names], names=names)
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, options)
        yield batch.num_rows, sink.getvalue()


def _csv_ready(column: pa.Array) -> pa.Array:
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return pa.array(
            [None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.large_string()
        )
    return column


def ahead(items: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """``items``, produced by a background thread at most ``depth`` ahead of the consumer.

    Why: reading Parquet and writing CSV (Arrow, in C, without the GIL) can run while the
    consumer waits on the database. An exception in the producer is raised here; a
    consumer that stops early stops the producer.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((None, item)):
                    break
            else:
                put((None, done))
        except BaseException as exc:  # handed to the consumer, raised there
            put((exc, None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="airshift-ahead", daemon=True)
    worker.start()
    try:
        while True:
            exc, item = queue.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _advance_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """After explicit ids were loaded, move each serial sequence past the largest id."""
    for t in tables:
        pk = list(t.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
            _follow_ids(conn, t, pk[0].name)


def _follow_ids(conn: sa.Connection, table: sa.Table, column: str) -> None:
    """``setval`` to the largest id ``table`` holds, never backwards (an emptied table's
    sequence may be ahead of the ids it holds now); nothing for a column no sequence
    numbers (a UUID, an id its rows bring)."""
    name = _quoted(conn, table)
    seq = conn.execute(sa.select(sa.func.pg_get_serial_sequence(name, column))).scalar()
    if seq is None:
        return
    col = conn.dialect.identifier_preparer.quote(column)
    conn.exec_driver_sql(
        f"SELECT setval('{seq}', GREATEST(m, (SELECT last_value FROM {seq}))) "
        f"FROM (SELECT max({col}) AS m FROM {name}) AS held WHERE m IS NOT NULL"
    )


def _quoted(conn: sa.Connection, table: sa.Table) -> str:
    return conn.dialect.identifier_preparer.format_table(table)
