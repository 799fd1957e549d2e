"""Where the merge reads its rows: a scratch database, or the archive itself.

Why two: across versions the rows must pass through Airflow's own migrations in a scratch
database. When the archive is already at the target's revision there is nothing to
migrate, and going through a scratch database would load every row twice; the archive's
Parquet batches then go straight into the merge's staging tables (the same COPY path
that fills a scratch database).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
class Rewrite:
    """A column the source rewrites on the way in, from a short list the merge hands it.

    ``column`` takes the value ``values`` holds for the row's ``by`` (as text): where it
    is NULL only, with ``nulls_only`` (a new task instance's DAG version, looked up by its
    DAG: ``_Merger._version_link``), or always, NULL where ``by`` is no key of ``values``
    (a reference to a parent whose ids moved: old id -> new id, ``_Merger._moved_ids``).
    ``rewritten`` counts the NULLs filled (``nulls_only``)."""

    column: str
    by: str
    values: Mapping[str, str]
    nulls_only: bool = True
    rewritten: int = 0


class RowSource(Protocol):
    @property
    def revision(self) -> str:
        """The schema revision the rows are at."""

    @property
    def rewrites(self) -> bool:
        """Whether ``stage`` can rewrite columns on the way (``Rewrite``)."""

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
        rewrites: Sequence[Rewrite] = (),
    ) -> int:
        """Append ``table``'s rows (columns ``names``) to ``into`` on ``conn``; the count."""


@dataclass
class ScratchRows:
    db: AirflowDB
    rewrites = True  # a query on the scratch's server (``_rewritten``)

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
        rewrites: Sequence[Rewrite] = (),
    ) -> int:
        src = self.db.metadata.tables[table]
        by_name = {c.name: c for c in columns_of(src)}
        query = select_for(src, [by_name[n] for n in names])
        with self.db.engine.connect() as sconn:
            for i, rewrite in enumerate(rewrites):
                query = _rewritten(query, src, rewrite, f"_as_rewrite{i}")
                if rewrite.nulls_only and rewrite.values:
                    rewrite.rewritten = sconn.execute(_filled(src, rewrite)).scalar_one()
            return backends.of(conn).copy_rows(sconn, query, Into(conn, into, names))


@dataclass
class ArchiveRows:
    """The archive's rows, secrets re-sealed with the target's key on the way (or left out
    with ``codec`` None)."""

    reader: ArchiveReader
    codec: sec.SecretCodec | None
    rewrites = False  # Parquet batches, not a query: the merge stages them instead

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
        rewrites: Sequence[Rewrite] = (),
    ) -> int:
        assert not rewrites  # see ``rewrites``
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
    def rewrites(self) -> bool:
        return self.rows.rewrites

    def stage(
        self,
        conn: sa.Connection,
        table: str,
        into: sa.Table,
        names: list[str],
        rewrites: Sequence[Rewrite] = (),
    ) -> int:
        return self.rows.stage(conn, table, into, names, rewrites)


def _looked_up(rewrite: Rewrite, name: str) -> sa.Values:
    """``rewrite.values`` as a VALUES list the source's server joins (as text)."""
    pairs = sa.values(sa.column("key", sa.Text), sa.column("value", sa.Text), name=name)
    return pairs.data(list(rewrite.values.items()))


def _key(src: sa.Table, rewrite: Rewrite) -> sa.ColumnElement:
    by = src.c[rewrite.by]
    return by if isinstance(by.type, sa.String) else sa.cast(by, sa.Text)


def _rewritten(query: sa.Select, src: sa.Table, rewrite: Rewrite, name: str) -> sa.Select:
    """``query`` with ``rewrite.column`` rewritten from ``rewrite.values`` (an empty list
    joins nothing: VALUES needs a row)."""
    col = src.c[rewrite.column]
    if not rewrite.values and rewrite.nulls_only:
        return query
    pairs = _looked_up(rewrite, name) if rewrite.values else None
    value = sa.cast(sa.null() if pairs is None else pairs.c.value, col.type)
    new = (sa.func.coalesce(col, value) if rewrite.nulls_only else value).label(rewrite.column)
    exprs = [
        new if getattr(c, "name", None) == rewrite.column else c for c in query.selected_columns
    ]
    query = query.with_only_columns(*exprs)
    if pairs is None:
        return query
    joined = query.get_final_froms()[0].outerjoin(pairs, pairs.c.key == _key(src, rewrite))
    return query.select_from(joined)


def _filled(src: sa.Table, rewrite: Rewrite) -> sa.Select:
    """How many of ``src``'s rows a ``nulls_only`` rewrite fills."""
    pairs = _looked_up(rewrite, "_as_rewrite")
    joined = src.join(pairs, pairs.c.key == _key(src, rewrite))
    return sa.select(sa.func.count()).select_from(joined).where(src.c[rewrite.column].is_(None))
