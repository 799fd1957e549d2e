"""Rows of metadata tables, from wherever the metadata lives.

Why a seam this thin: the log index needs only "the rows of table X, these columns" and
"which tables and columns exist". A live database answers that through SQLAlchemy
reflection; an airshift archive (one Parquet dataset per table, at the source schema) will
answer it from RecordBatches. Keeping the index on this protocol means a second source is
a small adapter, not a second index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import MetaData, create_engine, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from airshift.errors import AirshiftError

Row = dict[str, Any]


class MetadataTables(Protocol):
    """Read-only access to the tables of one Airflow metadata store."""

    def columns(self, table: str) -> set[str] | None:
        """The column names of ``table``, or None when the table does not exist."""

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[Row]:
        """Every row of ``table`` as a dict of the requested (existing) columns."""


class DatabaseTables:
    """Tables of a live metadata database, reflected (airshift never assumes a schema)."""

    def __init__(self, url: str) -> None:
        try:
            self._engine: Engine = create_engine(url)
            self._names = set(inspect(self._engine).get_table_names())
        except (ArgumentError, NoSuchModuleError, SQLAlchemyError) as exc:
            raise AirshiftError(f"Cannot read the metadata database {url!r}: {exc}") from exc
        self._meta = MetaData()

    def columns(self, table: str) -> set[str] | None:
        if table not in self._names:
            return None
        return {c["name"] for c in inspect(self._engine).get_columns(table)}

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[Row]:
        reflected = self._meta.tables.get(table)
        if reflected is None:
            self._meta.reflect(self._engine, only=[table])
            reflected = self._meta.tables[table]
        query = select(*(reflected.c[name] for name in columns))
        try:
            with self._engine.connect() as conn:
                for row in conn.execution_options(yield_per=5000).execute(query):
                    yield dict(row._mapping)
        except SQLAlchemyError as exc:
            raise AirshiftError(f"Cannot read table {table} of the metadata: {exc}") from exc

    def close(self) -> None:
        self._engine.dispose()


def open_tables(location: str) -> MetadataTables:
    """The metadata at ``location``: a SQLAlchemy database URL.

    An airshift archive folder is not readable here yet: ``airshift.archive`` has not
    landed; its adapter will implement :class:`MetadataTables` over the Parquet tables.
    """
    if "://" not in location:
        raise AirshiftError(
            f"--metadata {location!r} is not a database URL (e.g. postgresql://user@host/airflow "
            "or sqlite:////path/airflow.db); reading airshift archives is not available yet."
        )
    return DatabaseTables(location)
