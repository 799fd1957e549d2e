"""Where the merge reads its rows: a scratch database, or the archive itself.

Why two: across versions the rows must pass through Airflow's own migrations in a scratch
database. When the archive is already at the target's revision there is nothing to
migrate, and going through a scratch database would load every row twice; the archive's
Parquet batches then go straight into the merge's staging tables (the same COPY path
that fills a scratch database).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from airshift import backends
from airshift.archive import ArchiveReader
from airshift.archive import secrets as sec
from airshift.backends.base import Into
from airshift.metadata.load import write_archive_table
from airshift.metadata.registry import spec_of
from airshift.metadata.schema import columns_of, select_for
from airshift.metadata.source import AirflowDB


@dataclass
class NullsFrom:
    """Where ``column`` is NULL, the value ``values`` holds for the row's ``by`` column;
    ``filled`` counts the rows that took one (``merge``: a new task instance's DAG version,
    linked on the way in, see ``_Merger._version_nulls``)."""

    column: str
    by: str
    values: Mapping[str, str]
    filled: int = 0


class RowSource(Protocol):
    @property
    def revision(self) -> str:
        """The schema revision the rows are at."""

    @property
    def fills_nulls(self) -> bool:
        """Whether ``stage`` can fill NULLs on the way (``NullsFrom``)."""

    def columns(self) -> dict[str, set[str]]:
        """Table -> column names."""

    def holding_rows(self, tables: Iterable[str]) -> set[str]:
        """Those of ``tables`` that hold at least one row."""

    def stage(
        self,
        conn: sa.Connection,
        table: str,
        into: sa.Table,
        names: list[str],
        nulls: NullsFrom | None = None,
    ) -> int:
        """Append ``table``'s rows (columns ``names``) to ``into`` on ``conn``; the count."""


@dataclass
class ScratchRows:
    db: AirflowDB
    fills_nulls = True  # a query on the scratch's server (``_filling``)

    @property
    def revision(self) -> str:
        return self.db.revision.revision

    def columns(self) -> dict[str, set[str]]:
        return self.db.columns()

    def holding_rows(self, tables: Iterable[str]) -> set[str]:
        md = self.db.metadata
        with self.db.engine.connect() as conn:
            return {
                n
                for n in tables
                if conn.execute(sa.select(sa.literal(1)).select_from(md.tables[n]).limit(1)).first()
            }

    def stage(
        self,
        conn: sa.Connection,
        table: str,
        into: sa.Table,
        names: list[str],
        nulls: NullsFrom | None = None,
    ) -> int:
        src = self.db.metadata.tables[table]
        by_name = {c.name: c for c in columns_of(src)}
        query = select_for(src, [by_name[n] for n in names])
        with self.db.engine.connect() as sconn:
            if nulls and nulls.values:
                query = _filling(query, src, nulls)
                nulls.filled = sconn.execute(_filled(src, nulls)).scalar_one()
            return backends.of(conn).copy_rows(sconn, query, Into(conn, into, names))


@dataclass
class ArchiveRows:
    """The archive's rows, secrets re-sealed with the target's key on the way (or left out
    with ``codec`` None)."""

    reader: ArchiveReader
    codec: sec.SecretCodec | None
    fills_nulls = False  # Parquet batches, not a query: the merge stages them instead

    @property
    def revision(self) -> str:
        return self.reader.manifest.source["alembic_revision"]

    def columns(self) -> dict[str, set[str]]:
        return {
            n: {c["name"] for c in e.columns}
            for n, e in self.reader.manifest.tables.items()
            if not (self.codec is None and spec_of(n).no_secrets)
        }

    def holding_rows(self, tables: Iterable[str]) -> set[str]:
        return {n for n in tables if self.reader.manifest.tables[n].rows}

    def stage(
        self,
        conn: sa.Connection,
        table: str,
        into: sa.Table,
        names: list[str],
        nulls: NullsFrom | None = None,
    ) -> int:
        assert nulls is None  # see fills_nulls
        return write_archive_table(conn, self.reader, table, into, names, self.codec)


@dataclass
class WithoutTables:
    """Another source's rows less some tables, which go elsewhere (connections and
    variables written to a secrets backend instead of the target's database)."""

    rows: RowSource
    hidden: frozenset[str]

    @property
    def revision(self) -> str:
        return self.rows.revision

    def columns(self) -> dict[str, set[str]]:
        return {n: c for n, c in self.rows.columns().items() if n not in self.hidden}

    def holding_rows(self, tables: Iterable[str]) -> set[str]:
        return self.rows.holding_rows(set(tables) - self.hidden)

    @property
    def fills_nulls(self) -> bool:
        return self.rows.fills_nulls

    def stage(
        self,
        conn: sa.Connection,
        table: str,
        into: sa.Table,
        names: list[str],
        nulls: NullsFrom | None = None,
    ) -> int:
        return self.rows.stage(conn, table, into, names, nulls)


def _looked_up(nulls: NullsFrom) -> sa.Values:
    """``nulls.values`` as a VALUES list the source's server joins (as text)."""
    pairs = sa.values(sa.column("key", sa.Text), sa.column("value", sa.Text), name="_as_nulls")
    return pairs.data(list(nulls.values.items()))


def _filling(query: sa.Select, src: sa.Table, nulls: NullsFrom) -> sa.Select:
    """``query`` with ``nulls.column``'s NULLs filled from ``nulls.values``."""
    pairs = _looked_up(nulls)
    col = src.c[nulls.column]
    filled = sa.func.coalesce(col, sa.cast(pairs.c.value, col.type)).label(nulls.column)
    exprs = [filled if c.name == nulls.column else c for c in query.selected_columns]
    joined = src.outerjoin(pairs, pairs.c.key == src.c[nulls.by])
    return query.with_only_columns(*exprs).select_from(joined)


def _filled(src: sa.Table, nulls: NullsFrom) -> sa.Select:
    """How many of ``src``'s rows ``_filling`` fills."""
    pairs = _looked_up(nulls)
    joined = src.join(pairs, pairs.c.key == src.c[nulls.by])
    return sa.select(sa.func.count()).select_from(joined).where(src.c[nulls.column].is_(None))
