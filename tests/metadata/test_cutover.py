"""A cutover between real Airflow environments: a 2.10.5 source that changes after the bulk
copy, a 3.3.2 target that must end where the source stopped.

Why the source is changed by its own Airflow between phases (``--stop-after bulk``, then a
resumed run): the delta must find what the source's Airflow wrote after the bulk copy (a
new run, a failed run marked success the way the UI does it), and the newer version must
win in the target. Nothing is written into either database by the test itself.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airshift import airflow_env, db
from airshift.metadata import scratch
from tests import rows
from tests.metadata.test_import import _between
from tests.realairflow import build, services

# A DAG whose scheduler would catch up on every day since 2024 once unpaused.
CATCHUP_DAG = """# An airflow DAG (the two words let Airflow's safe mode parse the file).
from datetime import datetime
from _compat import BashOperator, dag


@dag(schedule="@daily", start_date=datetime(2024, 1, 1), catchup=True, tags=["lab"])
def lab_catchup():
    BashOperator(task_id="echo", bash_command="echo caught up")


lab_catchup()
"""

# A DAG the source's scheduler runs every minute, and one with a task that outlasts the bulk copy.
MINUTELY = """# An airflow DAG (the two words let Airflow's safe mode parse the file).
from datetime import datetime
from _compat import BashOperator, dag


@dag(schedule="* * * * *", start_date=datetime(2024, 1, 1), catchup=False, tags=["lab"])
def lab_minutely():
    BashOperator(task_id="tick", bash_command="echo tick")


lab_minutely()
"""
LONG_TASK = """# An airflow DAG (the two words let Airflow's safe mode parse the file).
from datetime import datetime
from _compat import BashOperator, dag


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["lab"])
def lab_long():
    # Runs until the test lets it end (at most ten minutes).
    BashOperator(
        task_id="long",
        bash_command="for i in $(seq 600); do [ -e {marker} ] && exit 0; sleep 1; done; exit 1",
    )


lab_long()
"""

# What the UI's "Mark success" does to a failed run (Airflow 2.10's own code).
MARK_SUCCESS = """
import sys
from airflow.api.common.mark_tasks import set_dag_run_state_to_success
from airflow.models import DagBag
dag = DagBag(include_examples=False).get_dag(sys.argv[1])
set_dag_run_state_to_success(dag=dag, run_id=sys.argv[2], commit=True)
"""


def _home(tmp_path: Path, name: str, extra_dags: dict[str, str] | None = None) -> Path:
    """An AIRFLOW_HOME holding the lab DAGs (and ``extra_dags``)."""
    home = tmp_path / name
    shutil.copytree(
        build.HERE / "dags", home / "dags", ignore=shutil.ignore_patterns("__pycache__")
    )
    for file, code in (extra_dags or {}).items():
        (home / "dags" / file).write_text(code)
    return home


def _af(db, home: Path, *args: str) -> None:
    """The database's own Airflow, its CLI or a script (``python FILE ...``)."""
    env = airflow_env.ensure(db.fixture.version)
    key = {"AIRFLOW__CORE__FERNET_KEY": db.fixture.fernet_key}
    env.run(list(args), home=home, db_url=db.url, extra_env=key)


def _cutover(src, tgt, state: Path, *extra: str) -> dict:
    proc = _between("cutover", src, tgt, "--state-file", str(state), "--json", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _databases() -> list[str]:
    engine = db.engine_for(build.PG_SERVER)
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql("SELECT datname FROM pg_database").scalars())
    finally:
        engine.dispose()


def _pause_states(url: str) -> dict[str, bool]:
    return {d: bool(p) for d, p in rows.source_rows(url, "dag", {"dag_id": "", "is_paused": ""})}


def _runs(url: str, dag_id: str) -> dict[str, str]:
    found = rows.source_rows(url, "dag_run", {"dag_id": "", "run_id": "", "state": ""})
    return {r: s for d, r, s in found if d == dag_id}


def _tries(url: str) -> set[tuple]:
    cols = {
        "dag_id": "",
        "task_id": "",
        "run_id": "",
        "map_index": "",
        "try_number": "",
        "state": "",
    }
    return set(rows.source_rows(url, "task_instance", cols))


def test_delta_brings_what_changed_after_the_bulk_copy_and_rollback_restores(
    clone_db, tmp_path
) -> None:
    src, tgt = clone_db("2.10.5", "postgresql"), clone_db("3.3.2", "postgresql", "target")
    state = tmp_path / "cutover.json"
    before = _pause_states(src.url)
    bulk = _cutover(src, tgt, state, "--stop-after", "bulk")
    assert [p["phase"] for p in bulk["phases"]] == ["bulk"]
    assert _pause_states(src.url) == before  # the bulk copy runs while the source is live

    # The source moves on after the bulk copy: a new run, and a failed run marked success.
    home = _home(tmp_path, "src_home")
    _af(src, home, "dags", "test", "lab_xcom_taskflow", "2024-03-01")
    failed = [r for r, s in _runs(src.url, "lab_retry_fail").items() if s == "failed"]
    assert failed and _runs(tgt.url, "lab_retry_fail")[failed[0]] == "failed"
    script = tmp_path / "mark_success.py"
    script.write_text(MARK_SUCCESS)
    _af(src, home, "python", str(script), "lab_retry_fail", failed[0])
    new_run = set(_runs(src.url, "lab_xcom_taskflow")) - set(_runs(tgt.url, "lab_xcom_taskflow"))
    assert len(new_run) == 1

    done = _cutover(src, tgt, state, "--drain-timeout", "60")
    # The delta's scratch (and Airflow's process for its migration) was made as the pause
    # began, so that Airflow's imports overlap the pause and the drain, not the delta.
    made = [p["phase"] for p in done["phases"] if "the delta's scratch made" in p["summary"]]
    assert made == ["pause"]
    assert [p["phase"] for p in done["phases"]] == [
        "bulk",
        "pause",
        "drain",
        "delta",
        "verify",
        "unpause",
    ]
    delta = done["results"]["delta"]["merge"]["tables"]
    assert delta["dag_run"]["inserted"] == 1  # the new run
    assert delta["dag_run"]["overwritten"] >= 1  # the run marked success, newer in the source
    assert delta["task_instance"]["inserted"] == rows.count(
        src.url, "task_instance", f"WHERE run_id = '{next(iter(new_run))}'"
    )
    assert done["results"]["verify"]["ok"] is True
    # Asset events are only added: the delta takes the new ones and those its rows refer
    # to, not the whole table (verify above found every event in the target all the same).
    events = rows.count(src.url, "dataset_event")
    assert events and done["results"]["delta"]["archived"]["dataset_event"] < events
    assert _runs(tgt.url, "lab_retry_fail")[failed[0]] == "success"
    # The bulk phase kept its empty scratch schema for the delta; the unpause phase dropped it.
    kept = scratch.template_name(tgt.url, "")
    assert not [n for n in _databases() if n.startswith(kept)]
    assert _runs(tgt.url, "lab_xcom_taskflow")[next(iter(new_run))] == "success"
    assert _tries(src.url) <= _tries(tgt.url)  # every run and try the source holds at the end
    active = sorted(d for d, paused in before.items() if not paused)
    assert active and sorted(done["unpaused"]) == active and done["held"] == {}
    on_target = _pause_states(tgt.url)
    assert sorted(d for d in before if not on_target[d]) == active
    assert all(_pause_states(src.url).values())  # the source stays paused
    assert done["prior_pause"] == before

    back = _cutover(src, tgt, state, "--rollback")
    assert back["rolled_back"] is True
    assert _pause_states(src.url) == before
    assert all(_pause_states(tgt.url)[d] for d in before)


def test_catchup_dag_with_an_old_last_run_is_held_unless_allowed(clone_db, tmp_path) -> None:
    src, tgt = clone_db("2.10.5", "postgresql"), clone_db("3.3.2", "postgresql", "target")
    dags = {"lab_catchup.py": CATCHUP_DAG}
    src_home, tgt_home = _home(tmp_path, "src_home", dags), _home(tmp_path, "tgt_home", dags)
    _af(src, src_home, "dags", "reserialize")
    _af(src, src_home, "dags", "test", "lab_catchup", "2024-01-03")
    _af(src, src_home, "dags", "unpause", "lab_catchup")
    _af(tgt, tgt_home, "dags", "reserialize")  # the target runs the same DAG files
    state = tmp_path / "cutover.json"
    verified = _cutover(src, tgt, state, "--stop-after", "verify", "--drain-timeout", "60")
    assert verified["results"]["verify"]["ok"] is True
    # One run from the bulk phase on: the delta's scratch (and Airflow's process for its
    # migration) was made while the bulk phase went on, once its template was kept.
    made = [p["phase"] for p in verified["phases"] if "the delta's scratch made" in p["summary"]]
    assert made == ["bulk"]
    allowed_state = tmp_path / "allowed.json"
    shutil.copyfile(state, allowed_state)

    held = _cutover(src, tgt, state)
    assert list(held["held"]) == ["lab_catchup"]
    assert "catchup=True" in held["held"]["lab_catchup"]
    assert "lab_catchup" not in held["unpaused"] and held["unpaused"]
    assert _pause_states(tgt.url)["lab_catchup"] is True

    allowed = _cutover(src, tgt, allowed_state, "--allow-catchup")
    assert allowed["held"] == {}
    assert "lab_catchup" in allowed["unpaused"]
    assert _pause_states(tgt.url)["lab_catchup"] is False


def _wait_for(what: str, ready: Callable[[], bool], seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, f"waited {seconds:g}s for {what}"
        time.sleep(2)


def _long_task_state(url: str) -> str | None:
    found = rows.source_rows(url, "task_instance", {"dag_id": "", "state": ""})
    return next((state for dag_id, state in found if dag_id == "lab_long"), None)


def _logical_dates(url: str) -> dict[tuple[str, str], str | None]:
    """A 3.x database's runs: (dag id, run id) -> logical date (UTC ISO)."""
    cols = {"dag_id": "", "run_id": "", "logical_date": "TIMESTAMP"}
    return {(d, r): when for d, r, when in rows.source_rows(url, "dag_run", cols)}


def _run_states(url: str) -> set[tuple]:
    return set(rows.source_rows(url, "dag_run", {"dag_id": "", "run_id": "", "state": ""}))


@pytest.mark.full  # minutes of a real scheduler on each side; run with --full
def test_cutover_of_a_source_whose_scheduler_keeps_running(clone_db, tmp_path) -> None:
    """The source's scheduler runs through the whole cutover: a DAG makes a run every
    minute, a task runs during the bulk copy; the target ends holding every run and try,
    the long task finished, the same DAGs active, and its own scheduler creates no run
    dated before the cutover."""
    src, tgt = clone_db("2.10.5", "postgresql"), clone_db("3.3.2", "postgresql", "target")
    marker = tmp_path / "long-task-may-end"
    dags = {"lab_minutely.py": MINUTELY, "lab_long.py": LONG_TASK.replace("{marker}", str(marker))}
    src_home, tgt_home = _home(tmp_path, "src_home", dags), _home(tmp_path, "tgt_home", dags)
    _af(src, src_home, "dags", "reserialize")
    _af(tgt, tgt_home, "dags", "reserialize")
    for dag_id in ("lab_minutely", "lab_long"):
        _af(src, src_home, "dags", "unpause", dag_id)
    before = _pause_states(src.url)
    state = tmp_path / "cutover.json"
    source_env = {
        "AIRFLOW__CORE__FERNET_KEY": src.fixture.fernet_key,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        **services.own_log_server(),
    }
    env2 = airflow_env.ensure("2.10.5")
    with services.running(env2, src_home, src.url, source_env, tmp_path / "source") as start:
        start("scheduler")
        _af(src, src_home, "dags", "trigger", "lab_long")
        _wait_for("the long task to run", lambda: _long_task_state(src.url) == "running")
        _wait_for("a minutely run", lambda: bool(_runs(src.url, "lab_minutely")))
        _cutover(src, tgt, state, "--stop-after", "bulk")
        assert _long_task_state(tgt.url) == "running"  # copied while it ran
        _cutover(src, tgt, state, "--stop-after", "pause")
        assert _long_task_state(src.url) == "running"  # pausing its DAG does not stop it
        threading.Timer(20, marker.touch).start()  # it ends while the drain waits
        done = _cutover(src, tgt, state, "--drain-timeout", "300")
    drain = next(p for p in done["phases"] if p["phase"] == "drain")
    assert drain["seconds"] >= 10, drain
    # The source is as the cutover left it (its scheduler stopped): the target has it all.
    assert _long_task_state(src.url) == _long_task_state(tgt.url) == "success"
    assert done["results"]["verify"]["ok"] is True
    tgt_runs = _run_states(tgt.url)
    assert _run_states(src.url) <= tgt_runs and len(_runs(src.url, "lab_minutely")) >= 1
    assert _tries(src.url) <= _tries(tgt.url)
    active = sorted(d for d, paused in before.items() if not paused)
    assert sorted(done["unpaused"]) == active and {"lab_minutely", "lab_long"} <= set(active)
    assert sorted(d for d, p in _pause_states(tgt.url).items() if not p) == active

    # The target's own scheduler takes over: no run dated before the cutover.
    cutover_at = dt.datetime.fromisoformat(done["paused_at"])
    base, target_env = services.api_server_env(tgt.fixture.fernet_key)
    env3 = airflow_env.ensure("3.3.2")
    with services.running(env3, tgt_home, tgt.url, target_env, tmp_path / "target") as start:
        start("api-server")
        services.wait_healthy(base)
        start("scheduler")
        start("dag-processor")
        migrated = {(d, r) for d, r, _ in tgt_runs}
        _wait_for(
            "the target's scheduler to create a run",
            lambda: any(
                ("lab_minutely", r) not in migrated for r in _runs(tgt.url, "lab_minutely")
            ),
        )
    # @daily DAGs included: the unpause phase had their next run recomputed from the
    # migrated runs, so "today 00:00", the tick the source ran, is not run again.
    created = {k: when for k, when in _logical_dates(tgt.url).items() if k not in migrated}
    # At most the interval the cutover cut in two (the paused source never ran it) starts
    # before the cutover; nothing earlier is caught up on.
    earliest = cutover_at - dt.timedelta(minutes=1)
    assert created and all(
        when is None or dt.datetime.fromisoformat(when) >= earliest for when in created.values()
    ), (created, cutover_at)


DAILY = """# An airflow DAG (the two words let Airflow's safe mode parse the file).
from datetime import datetime
from _compat import BashOperator, dag


@dag(schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False, tags=["lab"])
def lab_daily():
    BashOperator(task_id="echo", bash_command="echo today")


lab_daily()
"""


def _automated_runs(url: str) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """A 3.x database's scheduled runs: (dag id, run id) -> (logical date, interval end)."""
    cols = {
        "dag_id": "",
        "run_id": "",
        "run_type": "",
        "logical_date": "TIMESTAMP",
        "data_interval_end": "TIMESTAMP",
    }
    found = rows.source_rows(url, "dag_run", cols)
    return {(d, r): (when, end) for d, r, kind, when, end in found if kind == "scheduled"}


@pytest.mark.full  # a real scheduler on each side; run with --full
def test_unpaused_daily_dag_does_not_run_again_what_the_source_ran(clone_db, tmp_path) -> None:
    """A ``@daily`` 2.x DAG whose scheduler ran yesterday's interval (at today 00:00): the
    3.x target parsed it before the cutover, so its ``dag`` row says a run is due at today
    00:00, the tick the source already ran. After the cutover the target's own scheduler
    creates runs (a minutely DAG shows it looped), and none for a tick the source ran."""
    src, tgt = clone_db("2.10.5", "postgresql"), clone_db("3.3.2", "postgresql", "target")
    dags = {"lab_daily.py": DAILY, "lab_minutely.py": MINUTELY}
    src_home, tgt_home = _home(tmp_path, "src_home", dags), _home(tmp_path, "tgt_home", dags)
    _af(src, src_home, "dags", "reserialize")
    _af(tgt, tgt_home, "dags", "reserialize")  # before the migrated runs are there
    for dag_id in ("lab_daily", "lab_minutely"):
        _af(src, src_home, "dags", "unpause", dag_id)
    source_env = {
        "AIRFLOW__CORE__FERNET_KEY": src.fixture.fernet_key,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        **services.own_log_server(),
    }
    env2 = airflow_env.ensure("2.10.5")
    with services.running(env2, src_home, src.url, source_env, tmp_path / "source") as start:
        start("scheduler")
        _wait_for(
            "the source's scheduler to run yesterday's interval",
            lambda: "success" in _runs(src.url, "lab_daily").values(),
        )
        # Its scheduler runs on: the drain waits for it to finish what it started.
        done = _cutover(src, tgt, tmp_path / "cutover.json", "--drain-timeout", "300")
    assert done["results"]["verify"]["ok"] is True
    assert {"lab_daily", "lab_minutely"} <= set(done["unpaused"]) and done["held"] == {}
    migrated = _automated_runs(tgt.url)
    ran_until: dict[str, dt.datetime] = {}  # DAG id -> the end of its newest interval run
    for (dag_id, _), (_, end) in migrated.items():
        if end is not None:
            ran_until[dag_id] = max(
                ran_until.get(dag_id, dt.datetime.min.replace(tzinfo=dt.timezone.utc)),
                dt.datetime.fromisoformat(end),
            )
    daily_end = ran_until["lab_daily"]
    # What the target's scheduler had been told, and what Airflow recomputed from the runs.
    before, after, _ = done["next_runs"]["lab_daily"]
    assert before is not None and dt.datetime.fromisoformat(before) <= daily_end
    assert after is not None and dt.datetime.fromisoformat(after) > daily_end

    env3 = airflow_env.ensure("3.3.2")
    target_env = {
        "AIRFLOW__CORE__FERNET_KEY": tgt.fixture.fernet_key,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        **services.own_log_server(),
    }
    with services.running(env3, tgt_home, tgt.url, target_env, tmp_path / "target") as start:
        start("scheduler")
        _wait_for(
            "the target's scheduler to create a minutely run",
            lambda: any(
                k not in migrated for k in _automated_runs(tgt.url) if k[0] == "lab_minutely"
            ),
        )
        time.sleep(10)  # a few more scheduler loops
    created = {k: v for k, v in _automated_runs(tgt.url).items() if k not in migrated}
    again = {
        k: when
        for k, (when, _) in created.items()
        if k[0] in ran_until
        and when is not None
        and dt.datetime.fromisoformat(when) <= ran_until[k[0]]
    }
    assert not again, (again, ran_until)  # no tick the source already ran is run again
