"""Oracle: airshift's rows in a new 3.x target equal what Airflow's own in-place
``airflow db migrate`` makes of a copy of the same source, field by field, except for
surrogate ids (a new environment assigns its own) and the documented improvements.

For 3.3.2 and for 3.4 (every try a ``task_instance`` row, pre-3.4 XComs and rendered fields
in ``xcom_v1``/``rtif_v1`` owned through ``legacy_task_data_owner``; docs/airflow-3.4.md)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from airshift import airflow_env
from airshift import db as adb
from airshift.archive.secrets import multi_fernet
from tests import rows
from tests.metadata.test_export import _mask, airshift
from tests.realairflow.versions import AIRFLOW_3_4, NEWEST_3X

TI = "ti.dag_id, ti.task_id, ti.run_id, ti.map_index"
# Per table: SQL selecting the natural key and every compared column. Surrogate keys and
# references to them are left out or replaced by the natural key they point at.
QUERIES = {
    "dag_run": "SELECT dag_id, run_id, queued_at, logical_date, start_date, end_date, state, run_type, "
    "CAST(conf AS TEXT), data_interval_start, data_interval_end, last_scheduling_decision, "
    "updated_at, clear_number, run_after, triggered_by, bundle_version, span_status FROM dag_run",
    "task_instance": "SELECT dag_id, task_id, run_id, map_index, start_date, end_date, duration, state, try_number, "
    "max_tries, hostname, unixname, pool, pool_slots, queue, priority_weight, operator, custom_operator_name, "
    "queued_dttm, pid, executor, executor_config, updated_at, rendered_map_index, external_executor_id, "
    "next_method, CAST(next_kwargs AS TEXT), task_display_name FROM task_instance",
    "task_instance_history": "SELECT dag_id, task_id, run_id, map_index, try_number, start_date, end_date, duration, "
    "state, max_tries, hostname, pool, queue, priority_weight, operator, queued_dttm, pid, executor, updated_at "
    "FROM task_instance_history",
    "xcom": "SELECT dag_id, run_id, task_id, map_index, key, CAST(value AS TEXT), timestamp FROM xcom",
    "rendered_task_instance_fields": "SELECT dag_id, task_id, run_id, map_index, CAST(rendered_fields AS TEXT), "
    "CAST(k8s_pod_yaml AS TEXT) FROM rendered_task_instance_fields",
    "task_reschedule": f"SELECT {TI}, tr.start_date, tr.end_date, tr.duration, tr.reschedule_date "
    "FROM task_reschedule tr JOIN task_instance ti ON tr.ti_id = ti.id",
    "task_instance_note": f"SELECT {TI}, n.content, n.user_id, n.created_at, n.updated_at "
    "FROM task_instance_note n JOIN task_instance ti ON n.ti_id = ti.id",
    "dag_run_note": "SELECT r.dag_id, r.run_id, n.content, n.user_id, n.created_at, n.updated_at "
    "FROM dag_run_note n JOIN dag_run r ON n.dag_run_id = r.id",
    "job": "SELECT dag_id, state, job_type, start_date, end_date, latest_heartbeat, executor_class, hostname, unixname FROM job",
    "asset_event": "SELECT a.uri, e.extra, e.source_task_id, e.source_dag_id, e.source_run_id, e.source_map_index, "
    "e.timestamp FROM asset_event e JOIN asset a ON e.asset_id = a.id",
    "slot_pool": "SELECT pool, slots, description, include_deferred FROM slot_pool WHERE pool <> 'default_pool'",
    "log": "SELECT dttm, dag_id, task_id, map_index, event, logical_date, run_id, owner, owner_display_name, "
    "extra, try_number FROM log",
}


_TI_34 = "ti.dag_id, ti.task_id, ti.run_id, ti.region_index, ti.try_number"
_TI_COLUMNS = (
    "start_date, end_date, duration, state, max_tries, hostname, unixname, pool, pool_slots, "
    "queue, priority_weight, operator, custom_operator_name, queued_dttm, pid, executor, "
    "executor_config, updated_at, rendered_map_index, external_executor_id, next_method, "
    "CAST(next_kwargs AS TEXT), task_display_name"
)
# Airflow 3.4: rows keyed by the attempt (try key), not by the task instance.
QUERIES_3_4 = {
    **{t: QUERIES[t] for t in ("dag_run_note", "job", "asset_event", "slot_pool")},
    "dag_run": QUERIES["dag_run"].replace(", span_status", ""),  # dropped by 0125
    "task_instance": "SELECT dag_id, task_id, run_id, CAST(region_id AS TEXT), region_index, "
    f"try_number, working_set, archived_reason, {_TI_COLUMNS} FROM task_instance",
    # Each migrated task instance's coordinates, and the try of the attempt they name.
    "legacy_task_data_owner": "SELECT o.dag_id, o.task_id, o.run_id, o.map_index, ti.try_number, "
    "ti.working_set FROM legacy_task_data_owner o JOIN task_instance ti ON o.task_instance_id = ti.id",
    "xcom_v1": "SELECT dag_id, run_id, task_id, map_index, key, CAST(value AS TEXT), timestamp, "
    "dag_result, mapped_length FROM xcom_v1",
    "rtif_v1": "SELECT dag_id, task_id, run_id, map_index, CAST(rendered_fields AS TEXT), "
    "CAST(k8s_pod_yaml AS TEXT) FROM rtif_v1",
    "xcom_v2": "SELECT key FROM xcom_v2",
    "rtif_v2": "SELECT CAST(rendered_fields AS TEXT) FROM rtif_v2",
    "task_reschedule": f"SELECT {_TI_34}, tr.start_date, tr.end_date, tr.duration, "
    "tr.reschedule_date FROM task_reschedule tr JOIN task_instance ti ON tr.ti_id = ti.id",
    "task_instance_note": f"SELECT {_TI_34}, n.content, n.user_id, n.created_at, n.updated_at "
    "FROM task_instance_note n JOIN task_instance ti ON n.ti_id = ti.id",
    "log": QUERIES["log"].replace(" FROM log", ", team_name, task_instance_id IS NULL FROM log"),
}


def _rows(url: str, sql: str) -> list[str]:
    engine = adb.engine_for(url)
    try:
        with engine.connect() as conn:
            return rows.canon([tuple(rows.norm(v) for v in r) for r in conn.exec_driver_sql(sql)])
    finally:
        engine.dispose()


def _secrets(url: str, key: str) -> dict:
    fernet = multi_fernet(key, "key")
    engine = adb.engine_for(url)
    with engine.connect() as conn:
        out = {
            "variable": {
                k: fernet.decrypt(v.encode())
                for k, v in conn.exec_driver_sql("SELECT key, val FROM variable")
            },
            "connection": {
                c: (
                    fernet.decrypt(p.encode()) if p else None,
                    fernet.decrypt(e.encode()) if e else None,
                )
                for c, p, e in conn.exec_driver_sql(
                    "SELECT conn_id, password, extra FROM connection"
                )
            },
        }
    engine.dispose()
    return out


# Tables a source without such rows leaves empty; every other compared table must hold rows
# (equal empty sets would prove nothing).
EMPTY = {"xcom_v2", "rtif_v2"}


@pytest.mark.parametrize(
    ("release", "queries"), [(NEWEST_3X, QUERIES), (AIRFLOW_3_4, QUERIES_3_4)], ids=["3.3", "3.4"]
)
def test_rows_equal_airflow_in_place_migration(clone_db, release, queries):
    src = clone_db("2.10.5", "postgresql")
    in_place = clone_db("2.10.5", "postgresql")
    target = clone_db(release, "postgresql", "target")
    env = airflow_env.ensure(release)
    with tempfile.TemporaryDirectory() as home:
        env.run(["db", "migrate"], home=Path(home), db_url=in_place.url)
    target_own_log = _rows(target.url, queries["log"])  # the target's own audit rows
    proc = airshift(
        "migrate",
        src.url,
        target.url,
        "--fernet-key",
        src.fixture.fernet_key,
        "--target-fernet-key",
        target.fixture.fernet_key,
        "--no-pause",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    for table, sql in queries.items():
        ours, theirs = _rows(target.url, sql), _rows(in_place.url, sql)
        if table == "log":
            # airshift masks the secrets Airflow 2's CLI logged in plaintext (deliberate).
            theirs = rows.canon([tuple(_mask(v) for v in json.loads(r)) for r in theirs])
            # Airflow's in-place run audits its own `db migrate`; that row is not history.
            extra = [r for r in theirs if r not in ours]
            assert len(extra) == 1 and "migrate" in extra[0], extra
            theirs = [r for r in theirs if r in ours]
            ours = [r for r in ours if r not in target_own_log]
        assert ours == theirs, table
        assert bool(ours) == (table not in EMPTY), table
    assert _secrets(target.url, target.fixture.fernet_key) == _secrets(
        in_place.url, src.fixture.fernet_key
    )
    # The documented differences: Airflow moves pickled XComs aside, airshift reports them.
    archived = rows.count(in_place.url, "_xcom_archive")
    assert report["losses"]["pickled_xcoms"]["rows"] == archived > 0
