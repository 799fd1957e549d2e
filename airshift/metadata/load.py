"""Bulk-write rows into a table: COPY on PostgreSQL, batched executemany elsewhere.

Why one loader: the scratch database and the target's staging tables are filled the
same way, from Arrow batches, with the few value adaptations each backend needs (naive
UTC timestamps in SQLAlchemy's text form on SQLite, naive UTC on MySQL, dash-less UUIDs
where Airflow stores them as CHAR(32)).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Full, Queue
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from airshift.archive import ArchiveReader
from airshift.archive import secrets as sec
from airshift.errors import AirshiftError
from airshift.metadata.registry import SECRET_COLUMNS

T = TypeVar("T")
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own storage format for SQLite DATETIME


def _naive_utc(v):
    return (
        v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if isinstance(v, dt.datetime) and v.tzinfo
        else v
    )


def _sqlite_ts(v):
    return _naive_utc(v).strftime(_SQLITE_TS) if isinstance(v, dt.datetime) else v


def _hex_uuid(v):
    return v.replace("-", "") if isinstance(v, str) and len(v) == 36 and v.count("-") == 4 else v


def adapters(conn: sa.Connection, table: sa.Table, names: list[str]) -> list[Callable | None]:
    """Per-column value adapters for writing into ``table`` on this connection's backend."""
    dialect = conn.dialect.name
    out: list[Callable | None] = []
    for name in names:
        t = table.c[name].type
        fn = None
        if isinstance(t, sa.DateTime) or "TIMESTAMP" in str(t).upper():
            fn = _sqlite_ts if dialect == "sqlite" else _naive_utc if dialect == "mysql" else None
        elif (
            dialect != "postgresql"
            and isinstance(t, sa.String)
            and getattr(t, "length", None) == 32
        ):
            fn = _hex_uuid
        out.append(fn)
    return out


def write_rows(
    conn: sa.Connection, table: sa.Table, names: list[str], rows: Iterable[tuple]
) -> int:
    """Append ``rows`` (tuples in ``names`` order) to ``table``; returns the count."""
    adapt = adapters(conn, table, names)
    if any(adapt):
        rows = (
            tuple(v if f is None or v is None else f(v) for v, f in zip(r, adapt, strict=True))
            for r in rows
        )
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, names, rows)
    n = 0
    batch: list[dict] = []
    stmt = sa.table(table.name, *[sa.column(c) for c in names]).insert()
    for r in rows:
        batch.append(dict(zip(names, r, strict=True)))
        if len(batch) >= 5000:
            conn.execute(stmt, batch)
            n += len(batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)
        n += len(batch)
    return n


def _copy(conn: sa.Connection, table: sa.Table, names: list[str], rows: Iterable[tuple]) -> int:
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in names)
    dbapi = conn.connection.driver_connection
    n = 0
    with (
        dbapi.cursor() as cur,
        cur.copy(f"COPY {prep.quote(table.name)} ({cols}) FROM STDIN") as copy,
    ):
        for r in rows:
            copy.write_row(r)
            n += 1
    return n


def copy_between(
    src: sa.Connection, query: sa.Select, dst: sa.Connection, table: sa.Table, names: list[str]
) -> int:
    """Stream ``query``'s rows from one PostgreSQL database into ``table`` of another.

    Why: PostgreSQL's COPY text format is read and written by the servers themselves;
    the blocks pass through this process without being parsed, so the cost is the
    servers' and memory holds one block at a time.
    """
    sql = query.compile(dialect=src.dialect, compile_kwargs={"literal_binds": True})
    prep = dst.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in names)
    with (
        src.connection.driver_connection.cursor() as scur,
        dst.connection.driver_connection.cursor() as dcur,
    ):
        with (
            scur.copy(f"COPY ({sql}) TO STDOUT") as out,
            dcur.copy(f"COPY {prep.quote(table.name)} ({cols}) FROM STDIN") as into,
        ):
            for block in out:
                into.write(block)
        return dcur.rowcount


def write_batches(
    conn: sa.Connection, table: sa.Table, names: list[str], batches: Iterable[pa.RecordBatch]
) -> int:
    """Append Arrow ``batches`` (columns ``names``) to ``table``; returns the row count.

    On PostgreSQL the batches are written as CSV by Arrow (in C) into one ``COPY``, so no
    value becomes a Python object except bytea, which COPY wants as hex text. The CSV is
    made in a second thread (``ahead``) while the server parses the previous chunk: the
    two overlap instead of taking turns. Elsewhere the rows go through ``write_rows``.
    """
    if conn.dialect.name != "postgresql":
        return sum(write_rows(conn, table, names, batch_rows(b, names)) for b in batches)
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in names)
    n = 0
    with (
        conn.connection.driver_connection.cursor() as cur,
        cur.copy(f"COPY {prep.quote(table.name)} ({cols}) FROM STDIN (FORMAT csv)") as copy,
    ):
        for rows, chunk in ahead(_csv_chunks(batches, names)):
            copy.write(chunk)
            n += rows
    return n


def _csv_chunks(
    batches: Iterable[pa.RecordBatch], names: list[str]
) -> Iterator[tuple[int, pa.Buffer]]:
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in batches:
        batch = pa.record_batch([_csv_ready(batch.column(c)) for c in names], names=names)
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, options)
        yield batch.num_rows, sink.getvalue()


def ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
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
            if hasattr(items, "close"):
                items.close()

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


def _csv_ready(column: pa.Array) -> pa.Array:
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return pa.array(
            [None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.large_string()
        )
    return column


def batch_rows(batch: pa.RecordBatch, names: list[str]) -> Iterable[tuple]:
    """Rows of an Arrow batch as tuples in ``names`` order (timestamps come out UTC-aware)."""
    columns = [batch.column(batch.schema.get_field_index(n)).to_pylist() for n in names]
    return zip(*columns, strict=True)


def archive_codec(
    reader: ArchiveReader, archive_key: str | None, target_key: str | None
) -> sec.SecretCodec:
    """Opens the archive's sealed secrets and seals them with the target's Fernet key."""
    if not archive_key:
        raise AirshiftError(
            "The archive holds sealed secrets: pass its key with --archive-key (or "
            "AIRSHIFT_ARCHIVE_KEY), or import without them using --secrets skip."
        )
    if sec.fingerprint(archive_key) != reader.manifest.secrets.get("key_fingerprint"):
        raise AirshiftError(
            "The archive key is wrong: it is not the key this archive was sealed with."
        )
    if not target_key:
        raise AirshiftError(
            "The target has no Fernet key to encrypt connections and variables with. Pass "
            "--target-fernet-key (the target's [core] fernet_key), or --secrets skip."
        )
    return sec.SecretCodec(archive_key, target_key, "archive key", "target Fernet key")


def _reseal(rows, names, table, codec: sec.SecretCodec | None):
    """Archive-sealed secrets -> the target's Fernet ciphertext (or left out, with codec None)."""
    flags = SECRET_COLUMNS[table]
    idx = {c: names.index(c) for c in flags if c in names}
    ident = names.index("key" if table == "variable" else "conn_id")
    for r in rows:
        values = list(r)
        for col, i in idx.items():
            if values[i] is not None and codec is not None:
                values[i] = codec.reseal(values[i], True, f"{table} {values[ident]!r} ({col})")
            elif codec is None:
                values[i] = None
            values[names.index(flags[col])] = values[i] is not None
        yield tuple(values)


def write_archive_table(
    conn: sa.Connection,
    reader: ArchiveReader,
    table: str,
    into: sa.Table,
    names: list[str],
    codec: sec.SecretCodec | None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Append an archive table's rows (columns ``names``) to ``into``; returns the count.

    Secret columns are re-sealed row by row (small tables); everything else goes in
    Arrow batches (``write_batches``).
    """

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader.iter_batches(table):
            yield batch
            if on_batch:
                on_batch(batch.num_rows)

    if table in SECRET_COLUMNS:
        rows = (r for b in batches() for r in batch_rows(b, names))
        return write_rows(conn, into, names, _reseal(rows, names, table, codec))
    return write_batches(conn, into, names, batches())
