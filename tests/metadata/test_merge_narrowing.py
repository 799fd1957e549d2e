"""A few rows staged against a big table are classified against a narrowed part of it.

Why: a cutover's delta stages a few thousand audit rows against a target ``log`` of
millions, and the null-safe key match read all of it (``merge._Merger._near``). The
narrowing must not lose a match: rows equal on the key, NULLs included, are still found
existing, and only rows the target lacks are new. Real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from airshift.choices import OnConflict
from airshift.metadata.merge import ACTION, TableResult, _Merger
from airshift.metadata.registry import TABLES
from airshift.progress import NULL_PROGRESS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _log_table(md: sa.MetaData) -> sa.Table:
    """The audit log's key columns as Airflow 3 has them, indexed on ``dttm`` as it is."""
    return sa.Table(
        "log",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dttm", sa.DateTime(timezone=True), nullable=True, index=True),
        sa.Column("event", sa.String(60)),
        sa.Column("dag_id", sa.String(250)),
        sa.Column("task_id", sa.String(250)),
        sa.Column("run_id", sa.String(250)),
        sa.Column("map_index", sa.Integer),
        sa.Column("try_number", sa.Integer),
        sa.Column("owner", sa.String(500)),
        sa.Column("extra", sa.Text),
    )


def _row(i: int, dttm: dt.datetime | None) -> dict:
    return {
        "id": i,
        "dttm": dttm,
        "event": "cli",
        "dag_id": f"d{i % 7}",
        "task_id": None,
        "run_id": None,
        "map_index": None,
        "try_number": None,
        "owner": "me",
        "extra": f"x{i}",
    }


def test_few_staged_rows_find_their_matches_in_a_narrowed_big_table(empty_database) -> None:
    engine = sa.create_engine(empty_database("postgresql"))
    md = sa.MetaData()
    log = _log_table(md)
    md.create_all(engine)
    held = [_row(i, T0 + dt.timedelta(minutes=i)) for i in range(1, 500)] + [_row(500, None)]
    spec = TABLES["log"]
    with engine.connect() as conn:
        conn.execute(log.insert(), held)
        merger = _Merger(conn, md, OnConflict.NEWER, dry_run=False)
        s = merger._temp(
            "_as_log",
            [sa.Column(c.name, c.type) for c in log.columns] + [sa.Column(ACTION, sa.String(16))],
            [list(spec.key)],
        )
        staged = [
            held[300] | {"id": 9001},  # in the target (another id: ids are the target's)
            held[499] | {"id": 9002},  # in the target, NULL dttm
            _row(9003, T0 + dt.timedelta(minutes=300)),  # within the range, not in the target
            _row(9004, None),  # NULL dttm, not in the target
        ]
        conn.execute(s.insert(), staged)
        assert merger._near(spec, s, log, len(staged))  # few rows against a big table
        res = TableResult("log", staged=len(staged))
        merger._classify(spec, s, log, res)
        found = dict(conn.execute(sa.select(s.c.id, s.c[ACTION])).all())
        assert found == {9001: "existing", 9002: "existing", 9003: None, 9004: None}
        assert res.existing == 2
        assert not merger._near(spec, s, log, 100)  # not few against it: the whole table


class _NoRows:
    """A source whose ``log`` holds no row, as most tables of a cutover's delta."""

    revision = "any"

    def columns(self) -> dict[str, set[str]]:
        return {"log": {c.name for c in _log_table(sa.MetaData()).columns}}

    def holding_rows(self, tables) -> set[str]:
        return set()

    def stage(self, conn: sa.Connection, table: str, into: sa.Table, names: list[str]) -> int:
        return 0


def test_a_table_with_nothing_staged_costs_no_statement_after_staging(empty_database) -> None:
    """Why: a delta's merge paid a dozen statements (index, ANALYZE, classify, counts, key
    copy, map) for each of ~30 tables, most with no row. No map is built: children find no
    parent in it either way (``_remap``, ``_keep_with_parent``)."""
    engine = sa.create_engine(empty_database("postgresql"))
    md = sa.MetaData()
    log = _log_table(md)
    md.create_all(engine)
    seen: list[str] = []
    with engine.connect() as conn:
        conn.execute(log.insert(), [_row(1, T0)])
        merger = _Merger(conn, md, OnConflict.SKIP, dry_run=False, needed_maps={"log"})
        sa.event.listen(conn, "before_cursor_execute", lambda *a: seen.append(a[2]))
        res = TableResult("log")
        merger.merge_table(TABLES["log"], _NoRows(), res, NULL_PROGRESS)
        assert res.staged == res.inserted == 0
        assert "log" not in merger.maps
        assert not [q for q in seen if q.lstrip().upper().startswith(("ANALYZE", "UPDATE"))]
