"""PostgreSQL rows straight into Arrow (ADBC), inside the export's own snapshot.

Why: the export's hot path must not touch rows one by one in Python. The ADBC
PostgreSQL driver reads with COPY in binary form into Arrow batches in C; the session
joins the export's repeatable-read transaction through an exported snapshot (the way
pg_dump's parallel workers do), so the archive is still one consistent moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlencode

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def export_snapshot(conn: sa.Connection) -> str | None:
    """A snapshot id other sessions can join, or None when ADBC is not installed."""
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return None
    return conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()


@contextmanager
def arrow_reader(conn: sa.Connection, snapshot: str | None = None) -> Iterator[ArrowReader | None]:
    """An Arrow reader sharing ``conn``'s snapshot (or ``snapshot``, exported from it),
    or None when ADBC is not installed."""
    snapshot = snapshot or export_snapshot(conn)
    if snapshot is None:
        yield None
        return
    import adbc_driver_postgresql.dbapi as adbc

    url = libpq_uri(conn.engine.url)
    with adbc.connect(url) as aconn:
        cur = aconn.cursor()
        # Batches of ~4 MB (the driver's default is 16 MB): memory stays flat with --jobs.
        cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(4 << 20)})
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        try:
            yield ArrowReader(cur)
        finally:
            aconn.rollback()


def libpq_uri(url: sa.URL) -> str:
    """``url`` as libpq reads a URI: SQLAlchemy writes a space in the query as "+" (form
    encoding), which libpq takes literally, so options holding several settings (a
    scratch's session) are written with %20."""
    base = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    query = urlencode(url.query, doseq=True, quote_via=quote)
    return f"{base}?{query}" if query else base


class ArrowReader:
    def __init__(self, cursor) -> None:
        self._cur = cursor

    def batches(self, query: sa.Select, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The query's rows as batches of ``schema`` (widened ints, large strings, UTC)."""
        sql = str(
            query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        )
        self._cur.execute(sql)
        for batch in self._cur.fetch_record_batch():
            # column by column: RecordBatch.cast is pyarrow 16+; MWAA 2.8.1-2.10.1 pin 14.0.2
            arrays = [
                col.cast(field.type) for col, field in zip(batch.columns, schema, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
