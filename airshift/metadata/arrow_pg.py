"""PostgreSQL rows straight into Arrow (ADBC), inside the export's own snapshot.

Why: the export's hot path must not touch rows one by one in Python. The ADBC
PostgreSQL driver reads with COPY in binary form into Arrow batches in C; the session
joins the export's repeatable-read transaction through an exported snapshot (the way
pg_dump's parallel workers do), so the archive is still one consistent moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


@contextmanager
def arrow_reader(conn: sa.Connection) -> Iterator[ArrowReader | None]:
    """An Arrow reader sharing ``conn``'s snapshot, or None when ADBC is not installed."""
    try:
        import adbc_driver_postgresql.dbapi as adbc
    except ImportError:
        yield None
        return
    snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    url = conn.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc.connect(url) as aconn:
        cur = aconn.cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        try:
            yield ArrowReader(cur)
        finally:
            aconn.rollback()


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
            yield batch.cast(schema)
