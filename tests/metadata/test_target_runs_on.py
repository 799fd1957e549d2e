"""After a 2.x -> 3.x migration the target's own REST API serves the history, and its
scheduler runs the DAGs on without errors and without re-creating migrated runs."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from airshift import airflow_env
from tests import rows
from tests.metadata.test_import import _migrate
from tests.realairflow import build, services
from tests.realairflow.versions import AIRFLOW_3_4


@contextlib.contextmanager
def running_target(release: str, tgt, tmp_path: Path) -> Iterator[str]:
    """The target's own Airflow running on it: API server, scheduler and DAG processor.
    Yields the REST API v2 base URL; on exit all three are stopped and the scheduler's log
    holds no traceback."""
    env = airflow_env.ensure(release)
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
        yield f"{base}/api/v2"
    scheduler_log = (tmp_path / "scheduler.log").read_text()
    assert "Traceback" not in scheduler_log, scheduler_log[-3000:]


def _served_runs(api: str, dag_id: str) -> dict[str, str]:
    got = requests.get(f"{api}/dags/{dag_id}/dagRuns", params={"limit": 100}, timeout=30)
    assert got.status_code == 200, got.text
    return {r["dag_run_id"]: r["state"] for r in got.json()["dag_runs"]}


FINISHED = ("success", "failed")


def _wait_for_a_new_run(api: str, dag_id: str, known: set[str], seconds: float) -> str:
    """The state of the first run of ``dag_id`` the scheduler starts (a run id not in
    ``known``), once it has finished."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            served = _served_runs(api, dag_id)
        except requests.Timeout:  # a busy API server on a loaded machine: ask again
            continue
        done = {s for r, s in served.items() if r not in known and s in FINISHED}
        if done:
            return done.pop()
        time.sleep(10)
    raise AssertionError(f"no new run of {dag_id} finished in {seconds:g}s")


def _assert_runs_on(
    before: dict, after: dict, migrated_runs: int, dag_id: str = "lab_retry_fail"
) -> None:
    """The scheduler started new runs of the unpaused DAG and left finished migrated runs
    (and their task instances) as they were."""
    known = {(r[0], r[1]) for r in before["runs"]}
    new = [r for r in after["runs"] if (r[0], r[1]) not in known]
    assert any(r[0] == dag_id and r[3] == "scheduled" for r in new), new
    assert len(after["runs"]) == migrated_runs + len(new)
    # Finished migrated runs were neither re-created nor changed; queued ones may run on.
    done = {(r[0], r[1]) for r in before["runs"] if r[2] in FINISHED}
    assert [r for r in after["runs"] if (r[0], r[1]) in done] == [
        r for r in before["runs"] if (r[0], r[1]) in done
    ]
    assert [t for t in after["tis"] if (t[0], t[2]) in done] == [
        t for t in before["tis"] if (t[0], t[2]) in done
    ]


def test_rest_api_serves_history_and_scheduler_runs_on(clone_db, tmp_path):
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("3.3.2", "postgresql", "target")
    before = build.probe(src.fixture, src.url, tmp_path / "h1", src.fixture.fernet_key)
    assert _migrate(src, tgt).returncode == 0
    migrated_runs = rows.count(tgt.url, "dag_run")
    with running_target("3.3.2", tgt, tmp_path) as api:
        for dag_id in {r[0] for r in before["runs"]}:
            served = _served_runs(api, dag_id)
            mine = sorted((r[1], r[2]) for r in before["runs"] if r[0] == dag_id)
            # the target's scheduler may already be adding new runs
            assert sorted((r, served[r]) for r, _ in mine if r in served) == mine
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
    after = build.probe(tgt.fixture, tgt.url, tmp_path / "h2", tgt.fixture.fernet_key)
    _assert_runs_on(before, after, migrated_runs)


def _own_runs(release: str, tgt, home: Path) -> None:
    """Runs the target's own Airflow makes before the import: a task that fails once and
    succeeds on its retry (3.4: an archived attempt), XComs (3.4: in xcom_v2)."""
    env = airflow_env.ensure(release)
    shutil.copytree(
        build.HERE / "dags", home / "dags", ignore=shutil.ignore_patterns("__pycache__")
    )
    for dag_id in ("lab_retry_fail", "lab_xcom_taskflow"):
        # lab_retry_fail ends failed on purpose (one task fails both tries): exit 1.
        env.run(
            ["dags", "test", dag_id, "2025-03-01"],
            home=home,
            db_url=tgt.url,
            extra_env={"AIRFLOW__CORE__FERNET_KEY": tgt.fixture.fernet_key},
            check=dag_id != "lab_retry_fail",
        )


def _tries(view: dict) -> dict[tuple, list[int]]:
    """Every try of every task instance, by (dag, task, run, map index): a probe's earlier
    tries and current ones."""
    out: dict[tuple, list[int]] = {}
    for dag, task, run, index, number, _ in view["tries"]:
        out.setdefault((dag, task, run, index), []).append(number)
    for dag, task, run, index, _, number, _ in view["tis"]:
        out.setdefault((dag, task, run, index), []).append(number)
    return {k: sorted(v) for k, v in out.items()}


def test_3x_history_into_a_live_3_4_target_with_runs(clone_db, tmp_path):
    """3.3.2 history into a 3.4 environment that already ran DAGs itself: its REST API v2
    lists every run, every try (/tries) and every XCom of both, while its scheduler and DAG
    processor run without errors, run a migrated DAG on (a new run that succeeds) and
    re-create or change no finished run."""
    src = clone_db("3.3.2", "postgresql")
    tgt = clone_db(AIRFLOW_3_4, "postgresql", "target")
    _own_runs(AIRFLOW_3_4, tgt, tmp_path / "own")
    own = build.probe(AIRFLOW_3_4, tgt.url, tmp_path / "h0", tgt.fixture.fernet_key)
    assert own["runs"] and own["tries"] and own["xcoms"]  # the target's own history
    assert rows.count(tgt.url, "xcom_v2") > 0
    before = build.probe(src.fixture, src.url, tmp_path / "h1", src.fixture.fernet_key)
    proc = _migrate(src, tgt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = build.probe(AIRFLOW_3_4, tgt.url, tmp_path / "h2", tgt.fixture.fernet_key)
    for part in ("runs", "tis", "tries", "xcoms"):
        assert after[part] == sorted(before[part] + own[part]), part
    expected_tries = _tries(before) | _tries(own)
    assert any(len(t) > 1 for t in _tries(before).values())  # the source has earlier tries
    with running_target(AIRFLOW_3_4, tgt, tmp_path) as api:
        everyone = before["runs"] + own["runs"]
        for dag_id in {r[0] for r in everyone}:
            served = _served_runs(api, dag_id)
            assert {r[1]: r[2] for r in everyone if r[0] == dag_id}.items() <= served.items()
        for (dag, task, run, index), numbers in expected_tries.items():
            ti = f"{api}/dags/{dag}/dagRuns/{run}/taskInstances/{task}"
            got = requests.get(f"{ti}/tries" if index < 0 else f"{ti}/{index}/tries", timeout=30)
            assert got.status_code == 200, got.text
            served_tries = sorted(t["try_number"] for t in got.json()["task_instances"])
            assert served_tries == numbers, (dag, task, run, index)
        for dag, run in {(x[0], x[1]) for x in before["xcoms"] + own["xcoms"]}:
            got = requests.get(
                f"{api}/dags/{dag}/dagRuns/{run}/taskInstances/~/xcomEntries",
                params={"limit": 100},
                timeout=30,
            )
            assert got.status_code == 200, got.text
            served_xcoms = sorted(
                (x["task_id"], x["map_index"], x["key"]) for x in got.json()["xcom_entries"]
            )
            assert served_xcoms == sorted(
                (x[2], x[3], x[4]) for x in before["xcoms"] + own["xcoms"] if x[:2] == [dag, run]
            )
        # The scheduler carries on: a migrated DAG, unpaused, gets a new run whose tasks
        # (a mapped one, XComs written to xcom_v2) all succeed.
        dag_id = "lab_xcom_taskflow"
        assert requests.patch(f"{api}/dags/{dag_id}", json={"is_paused": False}, timeout=60).ok
        known = {r[1] for r in after["runs"] if r[0] == dag_id}
        assert _wait_for_a_new_run(api, dag_id, known, seconds=900) == "success"
    final = build.probe(AIRFLOW_3_4, tgt.url, tmp_path / "h3", tgt.fixture.fernet_key)
    _assert_runs_on(after, final, len(after["runs"]), dag_id)
    done = {(r[0], r[1]) for r in after["runs"] if r[2] in FINISHED}
    assert [t for t in final["tries"] if (t[0], t[2]) in done] == [
        t for t in after["tries"] if (t[0], t[2]) in done
    ]  # and their earlier attempts
