"""After a 2.x -> 3.x migration the target's own REST API serves the history, and its
scheduler runs the DAGs on without errors and without re-creating migrated runs."""

from __future__ import annotations

import shutil
import time

import requests

from airshift import airflow_env
from tests import rows
from tests.metadata.test_import import _migrate
from tests.realairflow import build, services


def test_rest_api_serves_history_and_scheduler_runs_on(clone_db, tmp_path):
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("3.3.2", "postgresql", "target")
    before = build.probe(src.fixture, src.url, tmp_path / "h1", src.fixture.fernet_key)
    assert _migrate(src, tgt).returncode == 0
    migrated_runs = rows.count(tgt.url, "dag_run")

    env = airflow_env.ensure("3.3.2")
    home = tmp_path / "target-home"
    shutil.copytree(
        build.HERE / "dags", home / "dags", ignore=shutil.ignore_patterns("__pycache__")
    )
    base, extra = services.api_server_env(tgt.fixture.fernet_key)
    with services.running(env, home, tgt.url, extra, tmp_path) as start:
        # The API server first: the scheduler's tasks report to its execution API.
        start("api-server")
        services.wait_healthy(base)
        start("scheduler")
        start("dag-processor")
        api = f"{base}/api/v2"
        for dag_id in {r[0] for r in before["runs"]}:
            got = requests.get(f"{api}/dags/{dag_id}/dagRuns", params={"limit": 100}, timeout=30)
            assert got.status_code == 200, got.text
            mine = sorted((r[1], r[2]) for r in before["runs"] if r[0] == dag_id)
            ids = {m[0] for m in mine}  # the target's scheduler may already be adding new runs
            served = sorted(
                (r["dag_run_id"], r["state"])
                for r in got.json()["dag_runs"]
                if r["dag_run_id"] in ids
            )
            assert served == mine
        run_id = next(
            r[1] for r in before["runs"] if r[0] == "lab_retry_fail" and r[1].startswith("backfill")
        )
        tis = requests.get(
            f"{api}/dags/lab_retry_fail/dagRuns/{run_id}/taskInstances", timeout=30
        ).json()
        assert sorted((t["task_id"], t["state"]) for t in tis["task_instances"]) == sorted(
            (t[1], t[4]) for t in before["tis"] if t[0] == "lab_retry_fail" and t[2] == run_id
        )
        tries = requests.get(
            f"{api}/dags/lab_retry_fail/dagRuns/{run_id}/taskInstances/flaky_then_ok/tries",
            timeout=30,
        ).json()
        assert [t["try_number"] for t in tries["task_instances"]] == [1, 2]
        xrun = next(
            r[1] for r in before["runs"] if r[0] == "lab_xcom_taskflow" and r[2] == "success"
        )
        xcoms = requests.get(
            f"{api}/dags/lab_xcom_taskflow/dagRuns/{xrun}/taskInstances/~/xcomEntries",
            params={"limit": 100},
            timeout=30,
        ).json()
        assert {x["key"] for x in xcoms["xcom_entries"]} >= {
            "return_value",
            "a_list",
            "a_tuple",
            "a_datetime",
        }
        # The scheduler carries on: unpause a migrated DAG and let it work for a while.
        assert requests.patch(
            f"{api}/dags/lab_retry_fail", json={"is_paused": False}, timeout=30
        ).ok
        time.sleep(45)
    scheduler_log = (tmp_path / "scheduler.log").read_text()
    assert "Traceback" not in scheduler_log, scheduler_log[-3000:]
    after = build.probe(tgt.fixture, tgt.url, tmp_path / "h2", tgt.fixture.fernet_key)
    known = {(r[0], r[1]) for r in before["runs"]}
    new = [r for r in after["runs"] if (r[0], r[1]) not in known]
    assert any(r[0] == "lab_retry_fail" and r[3] == "scheduled" for r in new), new
    assert len(after["runs"]) == migrated_runs + len(new)
    # Finished migrated runs were neither re-created nor changed; queued ones may run on.
    done = {(r[0], r[1]) for r in before["runs"] if r[2] in ("success", "failed")}
    assert [r for r in after["runs"] if (r[0], r[1]) in done] == [
        r for r in before["runs"] if (r[0], r[1]) in done
    ]
    assert [t for t in after["tis"] if (t[0], t[2]) in done] == [
        t for t in before["tis"] if (t[0], t[2]) in done
    ]
