"""A merge into tables the target holds nothing (or only a few rows of its own) in: the
rows go straight into the table with their ids (``merge._Merger._fill``), and nothing of
what the staged path guarantees is lost: re-runs change nothing, the target's own rows
stay, conflicts are still found, children of rows not merged still stay out.

Between 2.10.5 databases: a 3.x target that has parsed the DAGs holds DAG versions, which
keep runs and task instances on the staged path (their references are rewritten)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from airshift import db
from tests import rows
from tests.metadata.test_export import airshift
from tests.metadata.test_import import _export, _import_args

RUN = ("lab_retry_fail", "manual__2024-02-01T00:00:00+00:00")


def _scalar(url: str, sql: str):
    eng = db.engine_for(url)
    try:
        with eng.begin() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        eng.dispose()


def _ids(url: str, table: str, key: str) -> set[tuple]:
    eng = db.engine_for(url)
    try:
        with eng.connect() as conn:
            return {tuple(r) for r in conn.exec_driver_sql(f"SELECT {key}, id FROM {table}")}
    finally:
        eng.dispose()


def _import(archive: str, tgt, key: str, *extra: str):
    proc = airshift(*_import_args(archive, tgt, key), "--json", *extra)
    return proc, (json.loads(proc.stdout)["merge"]["tables"] if proc.returncode == 0 else {})


def test_an_empty_target_takes_rows_with_their_ids_and_a_rerun_adds_nothing(clone_db, tmp_path):
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("2.10.5", "postgresql", "target")
    archive = str(tmp_path / "a")
    key = _export(src, archive)
    own_log = rows.count(tgt.url, "log")
    assert own_log >= 1  # the target's own `airflow db migrate` audited itself
    first, tables = _import(archive, tgt, key)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("dag_run", "task_instance", "job", "xcom", "log"):
        assert tables[name]["filled"], name
        assert tables[name]["inserted"] == rows.count(src.url, name) > 0, name
    # The runs and jobs kept their ids; the sequences that number them moved past them.
    assert _ids(tgt.url, "dag_run", "dag_id, run_id") == _ids(src.url, "dag_run", "dag_id, run_id")
    assert _ids(tgt.url, "job", "job_type, start_date") == _ids(
        src.url, "job", "job_type, start_date"
    )
    for table in ("dag_run", "job", "log"):
        following = _scalar(tgt.url, f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
        assert following > _scalar(tgt.url, f"SELECT max(id) FROM {table}"), table
    # The target's own audit rows stayed; the source's came in numbered by the target.
    assert rows.count(tgt.url, "log") == own_log + rows.count(src.url, "log")
    counts = {t: rows.count(tgt.url, t) for t in tables}
    second, again = _import(archive, tgt, key)
    assert second.returncode == 0, second.stderr[-3000:]
    assert all(t["inserted"] == 0 for t in again.values()), again
    assert again["log"]["existing"] == rows.count(src.url, "log")
    assert {t: rows.count(tgt.url, t) for t in tables} == counts
    verify = ["verify", archive, tgt.url, "--archive-key", key, "--json"]
    checked = airshift(*verify, "--target-fernet-key", tgt.fixture.fernet_key)
    assert checked.returncode == 0, checked.stdout[-3000:]
    found = json.loads(checked.stdout)["merge"]["tables"]
    # The target's DAG processor made its own row of the one dataset (its own timestamps):
    # the target's, as 3.x's assets are, so verify counts it and finds no difference.
    assert found["dataset"]["existing"] == 1
    assert {n for n, t in found.items() if t["inserted"] or t["differing"]} == set()


def test_a_few_rows_of_the_target_still_conflict_and_fail_leaves_it_unchanged(clone_db, tmp_path):
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("2.10.5", "postgresql", "target")
    archive = str(tmp_path / "a")
    key = _export(src, archive)
    # The target holds one audit row equal (on the natural key) to one of the source's.
    cols = "dttm, event, dag_id, task_id, run_id, map_index, try_number, owner, extra"
    one = _scalar(src.url, "SELECT min(id) FROM log WHERE dag_id IS NOT NULL")
    eng = db.engine_for(src.url)
    with eng.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT {cols} FROM log WHERE id = {one}").one()
    eng.dispose()
    eng = db.engine_for(tgt.url)
    with eng.begin() as conn:
        # Nothing else of the source's is in the target, so that only the log conflicts.
        conn.exec_driver_sql("TRUNCATE log_template, slot_pool, dag, dataset CASCADE")
        conn.execute(
            sa.text(
                f"INSERT INTO log ({cols}) VALUES ({', '.join(':' + c for c in cols.split(', '))})"
            ),
            dict(zip(cols.split(", "), row, strict=True)),
        )
    eng.dispose()
    pair = " AND ".join(f"a.{c} IS NOT DISTINCT FROM b.{c}" for c in cols.split(", "))
    same = _scalar(src.url, f"SELECT count(*) FROM log a, log b WHERE b.id = {one} AND {pair}")
    before = {t: rows.count(tgt.url, t) for t in ("log", "dag_run", "task_instance")}
    fail, _ = _import(archive, tgt, key, "--on-conflict", "fail")
    assert fail.returncode == 3 and "log rows conflict" in fail.stderr, fail.stderr[-2000:]
    assert {t: rows.count(tgt.url, t) for t in before} == before
    skip, tables = _import(archive, tgt, key)
    assert skip.returncode == 0, skip.stderr[-3000:]
    assert tables["log"]["filled"] and tables["log"]["existing"] == same >= 1
    assert rows.count(tgt.url, "log") == before["log"] + rows.count(src.url, "log") - same


def test_children_of_a_run_the_target_holds_stay_out_when_the_rest_is_filled(clone_db, tmp_path):
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("2.10.5", "postgresql", "target")
    archive = str(tmp_path / "a")
    key = _export(src, archive)
    # The target ran one of the same runs itself: dag_run is merged row by row (its ids
    # change), task instances are filled, and those of that run must stay out.
    eng = db.engine_for(tgt.url)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO dag_run (dag_id, run_id, state, run_type, execution_date, clear_number) "
            "VALUES (%(d)s, %(r)s, 'success', 'manual', '2024-02-01', 0)",
            {"d": RUN[0], "r": RUN[1]},
        )
    eng.dispose()
    skip, tables = _import(archive, tgt, key)
    assert skip.returncode == 0, skip.stderr[-3000:]
    assert not tables["dag_run"]["filled"] and tables["dag_run"]["existing"] == 1
    assert tables["task_instance"]["filled"]
    of_run = f"WHERE dag_id = '{RUN[0]}' AND run_id = '{RUN[1]}'"
    assert rows.count(src.url, "task_instance", of_run) > 0
    assert rows.count(tgt.url, "task_instance", of_run) == 0
    assert tables["task_instance"]["without_parent"] == rows.count(src.url, "task_instance", of_run)
    assert rows.count(tgt.url, "task_instance") == rows.count(
        src.url, "task_instance"
    ) - rows.count(src.url, "task_instance", of_run)
    # XComs point at runs by id: they follow the runs' new ids, none is left pointing astray.
    assert not tables["xcom"]["filled"]
    astray = "WHERE NOT EXISTS (SELECT 1 FROM dag_run r WHERE r.id = xcom.dag_run_id AND r.dag_id = xcom.dag_id AND r.run_id = xcom.run_id)"
    assert rows.count(tgt.url, "xcom", astray) == 0
