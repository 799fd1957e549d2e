"""MySQL and MariaDB: UTC sessions, and a merge that must not commit half-way.

Why it differs: DDL commits the open transaction here, so the merge's temp tables are
created with their indexes declared in the CREATE itself and dropped as TEMPORARY; joins
run as one index probe per row, so staging tables are indexed on what they are joined
on; and timestamps are stored naive in UTC.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from airshift.backends.base import Adapter, ServerBackend, is_timestamp, naive_utc


class MySQL(ServerBackend):
    name = "mysql"
    schemes = ("mysql", "mariadb")
    driver = "mysql+pymysql"
    airflow_driver = "mysql+pymysql"
    maintenance_database = None
    create_database_sql = (
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    drop_database_sql = "DROP DATABASE IF EXISTS `{name}`"
    list_databases_sql = "SELECT schema_name FROM information_schema.schemata"
    try_lock_sql = "SELECT GET_LOCK(:name, 0)"
    unlock_sql = "SELECT RELEASE_LOCK(:name)"
    snapshot_begin = "START TRANSACTION WITH CONSISTENT SNAPSHOT"

    def on_connect(self, dbapi_conn: Any, record: Any) -> None:
        # Airflow keeps MySQL TIMESTAMPs in UTC by setting the session zone; so must we.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")

    def table_bytes(self, conn: sa.Connection) -> dict[str, int]:
        q = (
            "SELECT table_name, data_length + index_length FROM information_schema.tables "
            "WHERE table_schema = DATABASE()"
        )
        return {n: int(b or 0) for n, b in conn.exec_driver_sql(q)}

    def adapter(self, column_type: sa.types.TypeEngine) -> Adapter | None:
        return naive_utc if is_timestamp(column_type) else super().adapter(column_type)

    def create_temp(self, conn: sa.Connection, table: sa.Table, index_on: list[list[str]]) -> None:
        """With its indexes declared in the CREATE: a CREATE INDEX would commit the
        merge's transaction half-way."""
        ddl = str(CreateTable(table).compile(dialect=conn.dialect)).rstrip().removesuffix(")")
        parts = [
            ", ".join(p for p in (_index_part(table.c[c]) for c in cols) if p) for cols in index_on
        ]
        conn.exec_driver_sql(
            ddl.rstrip() + "".join(f",\n\tINDEX ({p})" for p in parts if p) + "\n)"
        )

    def index_temp(self, conn: sa.Connection, table: sa.Table, index_on: list[list[str]]) -> None:
        """Nothing to do: the indexes were declared when the table was created."""

    def drop_temp(self, conn: sa.Connection, table: sa.Table) -> None:
        # TEMPORARY said explicitly: a plain DROP TABLE commits.
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE `{table.name}`")

    def in_written_order(self, select: sa.Select) -> sa.Select:
        """STRAIGHT_JOIN: the optimizer's statistics on a fresh temp table could make it
        scan the other way round, one probe per row of the big side."""
        return select.prefix_with("STRAIGHT_JOIN")


def _index_part(col: sa.Column) -> str | None:
    """An index column: long strings by a prefix (InnoDB keys are limited); JSON not at
    all (MySQL cannot index it)."""
    t = col.type
    if isinstance(t, sa.JSON):
        return None
    long = isinstance(t, sa.Text | sa.LargeBinary) or (
        isinstance(t, sa.String) and (t.length or 10_000) > 64
    )
    return f"`{col.name}`(64)" if long else f"`{col.name}`"
