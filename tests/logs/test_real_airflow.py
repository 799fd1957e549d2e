"""Logs of real Airflow 2.x and 3.x tasks, copied by airshift, read by the target Airflow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airshift.logs import LAYOUTS, Naming, iter_tries, open_tables
from airshift.logs.index import TaskTry, airflow_major

from .conftest import CUSTOM_TEMPLATE, AirflowHome, cli

pytestmark = pytest.mark.slow

EXPECTED = {
    ("ok", -1, 1): ("success", "LOGDEMO ok says hello"),
    ("flaky", -1, 1): ("failed", "LOGDEMO flaky try 1"),
    ("flaky", -1, 2): ("success", "LOGDEMO flaky try 2"),
    ("mapped", 0, 1): ("success", "LOGDEMO mapped 1"),
    ("mapped", 1, 1): ("success", "LOGDEMO mapped 2"),
}


def _tries(af: AirflowHome) -> list[TaskTry]:
    return list(iter_tries(open_tables(af.db_url)))


def _keys(tries: list[TaskTry]) -> list[tuple]:
    return [(t.dag_id, t.task_id, t.run_id, t.map_index, t.try_number) for t in tries]


@pytest.mark.parametrize("name", ["af28", "af2", "af3", "af34"])
def test_index_lists_every_try_and_names_it_as_airflow_did(name: str, request) -> None:
    af: AirflowHome = request.getfixturevalue(name)
    tables = open_tables(af.db_url)
    tries = list(iter_tries(tables))
    assert {(t.task_id, t.map_index, t.try_number): t.state for t in tries} == {
        key: state for key, (state, _) in EXPECTED.items()
    }
    assert all(t.logical_date is not None and t.logical_date.year == 2024 for t in tries)
    naming = Naming(airflow_major=airflow_major(tables))
    assert airflow_major(tables) == af.env.major
    written = {p.relative_to(af.logs).as_posix() for p in af.logs.rglob("*.log")}
    rendered = {naming.relpath(t) for t in tries}
    assert rendered <= written, f"not written by Airflow: {sorted(rendered - written)}"
    expected = CUSTOM_TEMPLATE if name in ("af3", "af34") else LAYOUTS["airflow-2"]
    assert {t.log_template for t in tries} == {expected}


def _markers_found(logs: dict[str, str | None], tries: list[TaskTry]) -> dict[tuple, bool]:
    found = {}
    for t in tries:
        text = logs[f"{t.dag_id}|{t.task_id}|{t.run_id}|{t.map_index}|{t.try_number}"] or ""
        found[(t.task_id, t.map_index, t.try_number)] = (
            EXPECTED[(t.task_id, t.map_index, t.try_number)][1] in text
        )
    return found


def test_2x_logs_are_read_by_the_3x_reader(af2: AirflowHome, af3: AirflowHome, tmp_path: Path):
    """2.10.5 wrote its default layout; the 3.3.2 target names runs with CUSTOM_TEMPLATE,
    whose {{ ds }} Airflow 3 renders empty. airshift puts each log where 3.3.2 looks."""
    target = tmp_path / "target-logs"
    common = ["--metadata", af2.db_url, "--target-template", CUSTOM_TEMPLATE, "--json"]
    proc = cli("logs", "copy", str(af2.logs), str(target), *common)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["counts"] == {"copied": 5}
    assert report["bytes"] == sum(p.stat().st_size for p in af2.logs.rglob("*.log"))

    tries = _tries(af2)
    logs = af3.read_logs(_keys(tries), target)
    assert all(_markers_found(logs, tries).values()), logs

    # The same copy rendered with the source version's rules is invisible to Airflow 3.
    naive = tmp_path / "naive-logs"
    proc = cli("logs", "copy", str(af2.logs), str(naive), *common, "--target-airflow", "2")
    assert proc.returncode == 0, proc.stderr
    logs = af3.read_logs(_keys(tries), naive)
    assert not any(_markers_found(logs, tries).values())


def test_3x_logs_between_layouts_are_read_by_the_3x_reader(
    af3: AirflowHome, tmp_path: Path
) -> None:
    """3.3.2 JSON logs, copied through the 1.10 layout and back; 3.3.2 reads the result."""
    old_layout, back = tmp_path / "old-layout", tmp_path / "back"
    common = ["--metadata", af3.db_url, "--json"]
    proc = cli(
        "logs", "copy", str(af3.logs), str(old_layout), "--target-template", "airflow-1.10", *common
    )
    # The 1.10 layout has no map_index: the mapped tries would share one file. Reported.
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert report["counts"] == {"copied": 3, "name-collision": 2}
    assert sorted(p.name for p in old_layout.rglob("*.log")) == ["1.log", "1.log", "2.log"]
    proc = cli(
        "logs", "copy", str(old_layout), str(back), "--source-template", "airflow-1.10", *common
    )
    assert json.loads(proc.stdout)["counts"] == {"copied": 3, "name-collision": 2}
    tries = [t for t in _tries(af3) if t.task_id != "mapped"]
    logs = af3.read_logs(_keys(tries), back)
    assert all(_markers_found(logs, tries).values()), logs


@pytest.mark.parametrize("name", ["af2", "af3"])
def test_an_archive_indexes_the_same_tries_as_its_database(
    name: str, request, tmp_path: Path
) -> None:
    """The metadata can be an airshift archive (``airshift export``) instead of a DB."""
    af: AirflowHome = request.getfixturevalue(name)
    archive = tmp_path / "archive"
    proc = cli("export", af.db_url, "--to", str(archive), "--secrets", "skip", "--json")
    assert proc.returncode == 0, proc.stderr
    from_archive = list(iter_tries(open_tables(str(archive))))
    assert sorted(from_archive, key=repr) == sorted(_tries(af), key=repr)
    assert len(from_archive) == len(EXPECTED)


def test_tries_without_a_history_row_keep_their_logs(af2: AirflowHome, tmp_path: Path) -> None:
    """A held-out 2.10.5 database had a task instance at try 2 with no history row for
    try 1 (its pool requeued it during a backfill); attempt 1's log held the only output.
    Here the real flaky task's try-1 history row is removed the same way: its log is still
    copied and counted; where the file is gone too, nothing is reported missing."""
    import sqlite3

    db_file = tmp_path / "airflow.db"
    shutil.copyfile(af2.home / "airflow.db", db_file)
    with sqlite3.connect(db_file) as conn:
        deleted = conn.execute(
            "DELETE FROM task_instance_history WHERE task_id = 'flaky' AND try_number = 1"
        ).rowcount
    assert deleted == 1
    metadata = f"sqlite:///{db_file}"
    tries = list(iter_tries(open_tables(metadata)))
    assert [(t.try_number, t.recorded) for t in tries if t.task_id == "flaky"] == [
        (2, True),
        (1, False),
    ]
    proc = cli(
        "logs", "copy", str(af2.logs), str(tmp_path / "t1"), "--metadata", metadata, "--json"
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert report["counts"] == {"copied": 5} and report["unrecorded_tries_with_logs"] == 1
    assert "LOGDEMO flaky try 1" in "".join(p.read_text() for p in (tmp_path / "t1").rglob("*.log"))

    logs = tmp_path / "logs"
    shutil.copytree(af2.logs, logs)
    (flaky_try_1,) = [p for p in logs.rglob("*1.log") if "task_id=flaky" in p.as_posix()]
    flaky_try_1.unlink()
    proc = cli("logs", "copy", str(logs), str(tmp_path / "t2"), "--metadata", metadata, "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert report["counts"] == {"copied": 4, "absent": 1}
    assert report["unrecorded_tries_with_logs"] == 0
