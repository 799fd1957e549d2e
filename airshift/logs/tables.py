"""Rows of metadata tables, from wherever the metadata lives.

Why a seam this thin: the log index needs only "the rows of table X, these columns" and
"which tables and columns exist". A live database answers that through SQLAlchemy
reflection; an airshift archive (one Parquet dataset per table, at the source schema)
answers it from its manifest and RecordBatches. Keeping the index on this protocol makes
each source a small adapter, not a second index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import MetaData, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from airshift.archive.reader import ArchiveReader, is_archive
from airshift.db import engine_for
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
        # airshift's drivers and UTC sessions (MySQL), as every other stage opens them.
        self._engine: Engine = engine_for(url)
        self._names = set(inspect(self._engine).get_table_names())
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


class ArchiveTables:
    """Tables of an airshift archive, at the source's schema (secrets are never read)."""

    def __init__(self, url: str) -> None:
        self._reader = ArchiveReader(url)

    def columns(self, table: str) -> set[str] | None:
        entry = self._reader.manifest.tables.get(table)
        return None if entry is None else {c["name"] for c in entry.columns}

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[Row]:
        for batch in self._reader.iter_batches(table, columns=list(columns)):
            yield from batch.to_pylist()


def open_tables(location: str) -> MetadataTables:
    """The metadata at ``location``: an airshift archive (folder or URL), a database URL
    or a SQLite file."""
    if is_archive(location):
        return ArchiveTables(location)
    return DatabaseTables(location)
