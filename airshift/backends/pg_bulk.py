"""PostgreSQL bulk loading: foreign keys and plain indexes set aside, then re-created.

Why: checking each new row's foreign keys and inserting it into every index one row at
a time is most of what a bulk insert costs; one validation query and one sorted index
build per table afterwards is far cheaper. The definitions are read back from the
catalog (``pg_get_indexdef``, ``pg_get_constraintdef``), so what comes back is exactly
what was there: no index or constraint is described anywhere in airshift.

Unique indexes and primary keys stay: they are what makes a duplicate fail at once, and
other tables' foreign keys depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

# Tables of the current schema by name; ``:tables`` NULL means every table.
_IN_TABLES = (
    "(CAST(:tables AS text[]) IS NULL "
    "OR (SELECT relname FROM pg_class WHERE oid = {rel}) = ANY(CAST(:tables AS text[])))"
)
_FKS = (
    "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE contype = 'f' "
    "AND connamespace = current_schema()::regnamespace AND " + _IN_TABLES.format(rel="conrelid")
)
_INDEXES = (
    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisunique "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AND "
    + _IN_TABLES.format(rel="i.indrelid")
)


# Tables of the current schema that no other table's foreign key references, still logged.
_LEAVES = (
    "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
    "AND c.relnamespace = current_schema()::regnamespace AND "
    + _IN_TABLES.format(rel="c.oid")
    + " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contype = 'f' "
    "AND k.confrelid = c.oid AND k.conrelid <> c.oid)"
)
_UNLOGGED = (
    "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relpersistence = 'u' "
    "AND c.relnamespace = current_schema()::regnamespace"
)


@dataclass
class SetAside:
    """What ``set_aside`` dropped: enough to re-create it exactly."""

    fks: list[tuple[str, str, str]] = field(default_factory=list)  # table, name, definition
    indexes: list[tuple[str, str]] = field(default_factory=list)  # name, definition


def set_aside(conn: sa.Connection, tables: list[str] | None = None) -> SetAside:
    """Drop the foreign keys of ``tables`` (all tables when None) and their plain indexes.

    Inside a transaction this is undone by a rollback, like everything else in it; and
    it locks each table (ACCESS EXCLUSIVE) until the transaction ends.
    """
    params = {"tables": None if tables is None else list(tables)}
    aside = SetAside(
        [tuple(r) for r in conn.execute(sa.text(_FKS), params)],
        [tuple(r) for r in conn.execute(sa.text(_INDEXES), params)],
    )
    for table, name, _ in aside.fks:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in aside.indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    return aside


def restore(conn: sa.Connection, aside: SetAside) -> None:
    """Re-create what ``set_aside`` dropped; re-adding a foreign key validates every row."""
    for _, definition in aside.indexes:
        conn.exec_driver_sql(definition)
    for table, name, definition in aside.fks:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def unlog_leaves(conn: sa.Connection, tables: list[str]) -> list[str]:
    """Make those of ``tables`` that no other table references UNLOGGED; their names.

    Why: a scratch is disposable, and the write-ahead log is most of what a bulk load, an
    index build and a migration's table rewrite cost on a logged table. Only leaves: a
    logged table may not reference an unlogged one, and Airflow's migrations create
    logged tables that reference the tables others already reference (``dag_run``,
    ``task_instance``); a leaf that a later migration makes referenced is the job of
    ``log_all``."""
    leaves = list(conn.execute(sa.text(_LEAVES), {"tables": list(tables)}).scalars())
    for name in leaves:
        conn.exec_driver_sql(f'ALTER TABLE "{name}" SET UNLOGGED')
    return leaves


def make_logged(conn: sa.Connection, named: set[str]) -> list[str]:
    """Make the UNLOGGED tables among ``named`` logged again (each is rewritten), or every
    UNLOGGED table of the current schema when none of ``named`` is one; their names."""
    unlogged = list(conn.execute(sa.text(_UNLOGGED)).scalars())
    names = [n for n in unlogged if n in named] or unlogged
    for name in names:
        conn.exec_driver_sql(f'ALTER TABLE "{name}" SET LOGGED')
    return names
