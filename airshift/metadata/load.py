"""Bulk-write rows into a table: COPY on PostgreSQL, batched executemany elsewhere.

Why one loader: the scratch database and the target's staging tables are filled the
same way, from Arrow batches, with the few value adaptations each backend needs (naive
UTC timestamps in SQLAlchemy's text form on SQLite, naive UTC on MySQL, dash-less UUIDs
where Airflow stores them as CHAR(32)).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import pyarrow as pa
import sqlalchemy as sa

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


def batch_rows(batch: pa.RecordBatch, names: list[str]) -> Iterable[tuple]:
    """Rows of an Arrow batch as tuples in ``names`` order (timestamps come out UTC-aware)."""
    columns = [batch.column(batch.schema.get_field_index(n)).to_pylist() for n in names]
    return zip(*columns, strict=True)
