"""A few rows staged against a big table are matched against a narrowed part of it.

Why: a cutover's delta stages a few thousand audit rows against a target ``log`` of
millions, and the null-safe key match read all of it (``merge._Merger._near``); it stages
a few dozen jobs against a ``job`` table of hundreds of thousands with no index on its
natural key, and each statement that matched them (classify, newer, update, map) read all
of it (``merge._Merger._key_lookup``). The narrowing must not lose a match: rows equal on
the key, NULLs included, are still found existing, the newer version still wins, and only
rows the target lacks are new. Real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
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
        assert merger._near(spec, s, log)  # its index on dttm narrows it in place
        res = TableResult("log", staged=len(staged))
        look = merger._classify(spec, s, log, res)
        found = dict(conn.execute(sa.select(s.c.id, s.c[ACTION])).all())
        assert found == {9001: "existing", 9002: "existing", 9003: None, 9004: None}
        assert res.existing == 2
        assert look is log  # no key copy: the index narrows the target itself


def _job_table(md: sa.MetaData) -> sa.Table:
    """``job`` as Airflow 3 has it: no index on its natural key (job_type, dag_id,
    start_date, hostname, unixname)."""
    return sa.Table(
        "job",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), index=True),
        sa.Column("state", sa.String(20)),
        sa.Column("job_type", sa.String(30)),
        sa.Column("start_date", sa.DateTime(timezone=True)),
        sa.Column("end_date", sa.DateTime(timezone=True)),
        sa.Column("latest_heartbeat", sa.DateTime(timezone=True)),
        sa.Column("executor_class", sa.String(500)),
        sa.Column("hostname", sa.String(500)),
        sa.Column("unixname", sa.String(1000)),
    )


def _job(i: int, state: str = "success", end: int | None = 5) -> dict:
    start = T0 + dt.timedelta(minutes=i)
    return {
        "id": i,
        "dag_id": None if i % 3 == 0 else f"d{i % 5}",  # the scheduler's jobs have none
        "state": state,
        "job_type": "SchedulerJob" if i % 3 == 0 else "LocalTaskJob",
        "start_date": start,
        "end_date": None if end is None else start + dt.timedelta(minutes=end),
        "latest_heartbeat": start,
        "executor_class": None,
        "hostname": "h",
        "unixname": "airflow",
    }


class _Rows:
    """A source holding ``rows`` of one table."""

    revision = "any"

    def __init__(self, table: sa.Table, rows: list[dict]) -> None:
        self.table, self.rows = table, rows

    def columns(self) -> dict[str, set[str]]:
        return {self.table.name: {c.name for c in self.table.columns}}

    def holding_rows(self, tables) -> set[str]:
        return {self.table.name} if self.rows else set()

    rewrites = False

    def stage(
        self, conn: sa.Connection, table: str, into: sa.Table, names: list[str], rewrites=()
    ) -> int:
        conn.execute(into.insert(), [{n: r[n] for n in names} for r in self.rows])
        return len(self.rows)


@pytest.mark.parametrize("held", [500, 20], ids=["narrowed", "whole-target"])
def test_a_delta_of_jobs_against_a_big_job_table_updates_the_newer_and_maps_them(
    empty_database, held: int
) -> None:
    """The same outcome whether the key copy is narrowed (few against many) or the
    target is matched whole: the job the source finished is updated in place (by the
    target's id), the one the target holds a newer version of is left, the new one is
    inserted, and the map sends each source id to the target's."""
    engine = sa.create_engine(empty_database("postgresql"))
    md = sa.MetaData()
    job = _job_table(md)
    md.create_all(engine)
    spec = TABLES["job"]
    with engine.connect() as conn:
        # The target's ids differ from the source's (here by 10,000).
        conn.execute(job.insert(), [_job(i) | {"id": 10_000 + i} for i in range(1, held + 1)])
        conn.execute(job.update().where(job.c.id == 10_003).values(state="running", end_date=None))
        conn.execute(
            job.update()
            .where(job.c.id == 10_006)
            .values(end_date=T0 + dt.timedelta(days=9), state="failed")
        )
        staged = [
            _job(3),  # the source finished a job the target holds as running: updated
            _job(6),  # the target holds a later version: left
            _job(9),  # unchanged
            _job(held + 1),  # new
        ]
        merger = _Merger(conn, md, OnConflict.NEWER, dry_run=False, needed_maps={"job"})
        res = TableResult("job")
        merger.merge_table(spec, _Rows(job, staged), res, NULL_PROGRESS)
        assert (res.staged, res.existing, res.overwritten, res.newer_in_target) == (4, 3, 1, 1)
        assert (res.inserted, res.differing) == (1, 0)
        state = dict(conn.execute(sa.select(job.c.id, job.c.state)).all())
        assert state[10_003] == "success" and state[10_006] == "failed"
        assert len(state) == held + 1
        mapped = dict(
            conn.execute(sa.select(merger.maps["job"].c.old_pk, merger.maps["job"].c.new_pk)).all()
        )
        (new_id,) = [i for i in state if i < 10_000]  # from the sequence
        assert mapped == {3: 10_003, 6: 10_006, 9: 10_009, held + 1: new_id}
        copied = "_as_key_job" in merger.temp_md.tables
        assert copied is (held == 500)  # few against many: a narrowed copy of the keys
        if copied:
            keys = merger.temp_md.tables["_as_key_job"]
            assert conn.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one() == 4


class _NoRows:
    """A source whose ``log`` holds no row, as most tables of a cutover's delta."""

    revision = "any"

    def columns(self) -> dict[str, set[str]]:
        return {"log": {c.name for c in _log_table(sa.MetaData()).columns}}

    def holding_rows(self, tables) -> set[str]:
        return set()

    rewrites = False

    def stage(
        self, conn: sa.Connection, table: str, into: sa.Table, names: list[str], rewrites=()
    ) -> int:
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
