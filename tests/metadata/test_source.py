"""An opened Airflow database keeps its reflected tables while its schema stays where it
was, and an import refuses a target whose schema moved while it ran. Real PostgreSQL,
a real Airflow 3.3.2 schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from airshift.errors import AirshiftError
from airshift.metadata.importer import LAST_2X_HEAD
from airshift.metadata.merge import merge
from airshift.metadata.rows_from import ScratchRows
from airshift.metadata.source import AirflowDB


def test_tables_are_reflected_again_only_when_the_schema_moved(clone_db) -> None:
    target = AirflowDB.open(clone_db("3.3.2", "postgresql", "target").url)
    try:
        tables = target.metadata
        target.refresh()
        assert target.metadata is tables  # same revision: nothing reflected again
        with target.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :r"), {"r": LAST_2X_HEAD}
            )
        target.refresh()
        assert target.revision.revision == LAST_2X_HEAD
        assert target.metadata is not tables
    finally:
        target.dispose()


def test_a_target_migrated_while_the_import_ran_is_refused_unchanged(clone_db) -> None:
    rows = AirflowDB.open(clone_db("3.3.2", "postgresql", "target").url)
    target = AirflowDB.open(clone_db("3.3.2", "postgresql", "target").url)
    try:
        assert target.metadata is not None  # reflected at the import's start
        with rows.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO variable (key, val, is_encrypted) VALUES ('k', 'v', false)")
            )
        with target.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :r"), {"r": LAST_2X_HEAD}
            )
        with pytest.raises(AirshiftError, match="changed while the import ran"):
            merge(ScratchRows(rows), target)
        with target.engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT count(*) FROM variable WHERE key = 'k'")).scalar() == 0
            )
    finally:
        rows.dispose()
        target.dispose()
