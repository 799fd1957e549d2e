"""Move real Airflow 2.x history into real Airflow 3.x targets and ask the target about it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airshift import db, versions
from airshift.errors import AirshiftError
from airshift.metadata import importer
from airshift.metadata.scratch import scratch_prefix
from tests import rows
from tests.metadata.test_export import CLI, airshift
from tests.realairflow import build
from tests.realairflow.versions import AIRFLOW_3_4

# (source version, source backend, target version, target backend)
MOVES = [
    ("2.10.5", "postgresql", "3.3.2", "postgresql"),
    ("2.10.5", "sqlite", "3.3.2", "sqlite"),
    ("2.10.5", "mysql", "3.3.2", "postgresql"),
    ("3.3.2", "postgresql", "3.3.2", "postgresql"),
]


def _between(command: str, src, tgt, *extra: str) -> subprocess.CompletedProcess:
    """``airshift COMMAND SOURCE TARGET`` with both sides' Fernet keys, then ``extra``."""
    return airshift(
        command,
        src.url,
        tgt.url,
        "--fernet-key",
        src.fixture.fernet_key,
        "--target-fernet-key",
        tgt.fixture.fernet_key,
        *extra,
    )


def _migrate(src, tgt, *extra: str) -> subprocess.CompletedProcess:
    return _between("migrate", src, tgt, "--json", *extra)


def _export_args(src, archive, *extra: str) -> list[str]:
    """``airshift export`` of a cloned source into ``archive`` with its Fernet key."""
    return ["export", src.url, "--to", str(archive), "--fernet-key", src.fixture.fernet_key, *extra]


def _export(src, archive: str) -> str:
    """Export ``src`` to ``archive``; returns the generated archive key."""
    proc = airshift(*_export_args(src, archive, "--json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["generated_archive_key"]


def _import_args(archive, tgt, key: str) -> list[str]:
    return [
        "import",
        str(archive),
        tgt.url,
        "--archive-key",
        key,
        "--target-fernet-key",
        tgt.fixture.fernet_key,
    ]


def _expected(source_view: dict) -> dict:
    """What the target must show: the source's history minus what Airflow 3 cannot hold."""
    exp = dict(source_view)
    exp["xcoms"] = [x for x in source_view["xcoms"] if x[-1] != '"<pickled>"']
    return exp


@pytest.mark.parametrize(
    ("sv", "sb", "tv", "tb"), MOVES, ids=[f"{a}-{b}-to-{c}-{d}" for a, b, c, d in MOVES]
)
def test_history_moves_and_target_airflow_sees_it(clone_db, tmp_path, sv, sb, tv, tb):
    src = clone_db(sv, sb)
    tgt = clone_db(tv, tb, "target")
    before = build.probe(src.fixture, src.url, tmp_path / "h1", src.fixture.fernet_key)
    paused_before = rows.source_rows(src.url, "dag", {"dag_id": "", "is_paused": ""})
    proc = _migrate(src, tgt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    after = build.probe(tgt.fixture, tgt.url, tmp_path / "h2", tgt.fixture.fernet_key)
    exp = _expected(before)
    for part in ("runs", "tis", "xcoms", "run_notes", "ti_notes", "variables", "connections"):
        assert after[part] == exp[part], part
    # Every try is visible: the 2.x history rows plus, for sources before 2.10, task_fail.
    assert set(map(tuple, before["tries"])) <= set(map(tuple, after["tries"]))
    merged = report["merge"]["tables"]
    assert all(t["differing"] == 0 for t in merged.values())
    assert merged["task_instance"]["inserted"] == len(before["tis"])
    # Into PostgreSQL, 2.x task instances go straight into the empty table, linked to the
    # target's DAG versions on the way; a 3.x source's point at its own versions, which
    # the target's parsed versions replace (so they are staged and rewritten).
    assert merged["task_instance"]["filled"] is (tb == "postgresql" and sv.startswith("2."))
    # So are the runs, their log templates' moved ids rewritten on the way (the target's own
    # `db migrate` numbered its templates first), and the XComs, as the runs kept their ids.
    assert merged["dag_run"]["filled"] is merged["task_instance"]["filled"]
    assert merged["xcom"]["filled"] is (tb == "postgresql")
    if sv.startswith("2."):
        assert _run_templates(tgt.url) == _run_templates(src.url)
    if sv.startswith("2.") and tv.startswith("3."):
        _assert_linked_to_newest_dag_version(tgt.url, report["merge"]["linked_to_dag_version"])
    if sv.startswith("2."):
        assert (
            report["losses"]["pickled_xcoms"]["rows"]
            == len(before["xcoms"]) - len(exp["xcoms"])
            > 0
        )
    # The source was paused only while exporting; the target got the source's pause states.
    assert sorted(rows.source_rows(src.url, "dag", {"dag_id": "", "is_paused": ""})) == sorted(
        paused_before
    )
    assert sorted(rows.source_rows(tgt.url, "dag", {"dag_id": "", "is_paused": ""})) == sorted(
        paused_before
    )


def _run_templates(url: str) -> list[tuple]:
    """Each run with the file name of the log template it refers to."""
    query = (
        "SELECT r.dag_id, r.run_id, t.filename FROM dag_run r "
        "LEFT JOIN log_template t ON t.id = r.log_template_id ORDER BY 1, 2"
    )
    engine = db.engine_for(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


def _assert_linked_to_newest_dag_version(url: str, reported: int) -> None:
    """Imported 2.x task instances point at the newest version of their DAG in the target."""
    newest: dict[str, tuple[int, str]] = {}
    for vid, dag, number in rows.source_rows(
        url, "dag_version", {"id": "TEXT", "dag_id": "TEXT", "version_number": "INTEGER"}
    ):
        newest[dag] = max(newest.get(dag, (number, vid)), (number, vid))
    tis = rows.source_rows(url, "task_instance", {"dag_id": "TEXT", "dag_version_id": "TEXT"})
    parsed = [(dag, v) for dag, v in tis if dag in newest]
    assert parsed and reported == len(parsed)
    assert all(v == newest[dag][1] for dag, v in parsed)


# Per target release: the table holding the migrated XComs, and the tables a re-import
# must leave as they are (3.4 keeps every try in task_instance, pre-3.4 XComs in xcom_v1).
XCOMS_IN = {"3.3.2": "xcom", AIRFLOW_3_4: "xcom_v1"}
_HISTORY = ("dag_run", "task_instance", "log", "job")
WATCHED = {
    "3.3.2": (*_HISTORY, "xcom", "task_instance_history"),
    AIRFLOW_3_4: (*_HISTORY, "xcom_v1", "rtif_v1", "legacy_task_data_owner"),
}


def _queue_a_dataset_event(url: str) -> None:
    """The consumer DAG waits on its dataset's events (a queued row), as a source whose
    scheduler was stopped between an event and the run it triggers does. Whether the
    fixture's own build left one depends on timing; without it, 3.4's rebuild of the queue
    (migration 0128, which stamps each row with the time it runs) went untested on warm
    machines and failed verify on a cold one."""
    eng = db.engine_for(url)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO dataset_dag_run_queue (dataset_id, target_dag_id, created_at) "
            "SELECT id, 'lab_dataset_consumer', now() FROM dataset ORDER BY id LIMIT 1 "
            "ON CONFLICT DO NOTHING"
        )
    eng.dispose()


@pytest.mark.parametrize("release", list(XCOMS_IN))
def test_import_twice_changes_nothing_and_verify_agrees(clone_db, tmp_path, release):
    src = clone_db("2.10.5", "postgresql")
    _queue_a_dataset_event(src.url)
    tgt = clone_db(release, "postgresql", "target")
    archive = str(tmp_path / "a")
    key = _export(src, archive)
    args = [*_import_args(archive, tgt, key), "--json"]
    first = airshift(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    counts = {t: rows.count(tgt.url, t) for t in WATCHED[release]}
    assert counts["task_instance"] > 0 and counts[XCOMS_IN[release]] > 0
    second = airshift(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert all(t["inserted"] == 0 for t in json.loads(second.stdout)["merge"]["tables"].values())
    assert {t: rows.count(tgt.url, t) for t in counts} == counts
    verify = ["verify", archive, tgt.url, "--archive-key", key]
    verify += ["--target-fernet-key", tgt.fixture.fernet_key]
    ok = airshift(*verify)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # verify must notice a lost try and a changed XCom.
    eng = db.engine_for(tgt.url)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM task_instance WHERE task_id = 'flaky_then_ok' AND run_id LIKE 'backfill%%'"
        )
        conn.exec_driver_sql(
            f"UPDATE {XCOMS_IN[release]} SET value = '\"tampered\"' WHERE key = 'a_list'"
        )
    eng.dispose()
    bad = airshift(*verify, "--json")
    assert bad.returncode == 1
    tables = json.loads(bad.stdout)["merge"]["tables"]
    assert tables["task_instance"]["inserted"] >= 1  # missing in the target
    assert tables[XCOMS_IN[release]]["differing"] >= 1


def _archive_and_target(clone_db, tmp_path, release: str = "3.3.2") -> tuple:
    """An export of the 2.10.5 PostgreSQL history, a fresh target, the archive key."""
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db(release, "postgresql", "target")
    archive = str(tmp_path / "a")
    return tgt, archive, _export(src, archive)


def _counts(url: str, release: str = "3.3.2") -> dict[str, int]:
    return {t: rows.count(url, t) for t in (*WATCHED[release], "variable", "connection")}


@pytest.mark.parametrize("release", list(XCOMS_IN))
def test_killed_import_leaves_target_unchanged_and_rerun_completes(clone_db, tmp_path, release):
    tgt, archive, key = _archive_and_target(clone_db, tmp_path, release)
    pristine = _counts(tgt.url, release)
    _set_paused(tgt.url, "lab_xcom_taskflow", False)  # running in the target: the import pauses it
    # SIGKILL in the middle of the merge: after the task_instance rows were staged.
    script = (
        "import os, signal, sys\n"
        "from airshift.metadata import merge\n"
        "orig = merge._Merger._remap\n"
        "def remap(self, spec, *a):\n"
        f"    if spec.name == {XCOMS_IN[release]!r}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return orig(self, spec, *a)\n"
        "merge._Merger._remap = remap\n"
        "from airshift.cli import main\n"
        "sys.argv = ['airshift'] + sys.argv[1:]\n"
        "main()\n"
    )
    args = _import_args(archive, tgt, key)
    scratches = _scratch_databases(tgt.url)
    killed = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    for name in (
        _scratch_databases(tgt.url) - scratches
    ):  # a SIGKILL leaves it: not this test's to keep
        db.drop_database(build.PG_SERVER, name)
    assert _counts(tgt.url, release) == pristine
    rerun = airshift(*args, "--json")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # The killed run could not restore the pause state; the re-run did, then applied the source's.
    clean = clone_db(release, "postgresql", "target")
    _set_paused(clean.url, "lab_xcom_taskflow", False)
    assert (
        airshift(
            "import",
            archive,
            clean.url,
            "--archive-key",
            key,
            "--target-fernet-key",
            clean.fixture.fernet_key,
        ).returncode
        == 0
    )
    pause_of = {"dag_id": "", "is_paused": ""}
    assert sorted(rows.source_rows(tgt.url, "dag", pause_of)) == sorted(
        rows.source_rows(clean.url, "dag", pause_of)
    )
    assert _counts(tgt.url, release) == _counts(clean.url, release)
    assert _counts(tgt.url, release) != pristine


def _scratch_databases(target_url: str) -> set[str]:
    """The scratch databases made for this target only (on its server): other processes'
    are not ours."""
    server = db.parse_url(target_url).set(database="postgres")
    eng = db.engine_for(server.render_as_string(hide_password=False))
    try:
        with eng.connect() as conn:
            found = conn.exec_driver_sql("SELECT datname FROM pg_database").scalars()
            return {name for name in found if name.startswith(scratch_prefix(target_url))}
    finally:
        eng.dispose()


def test_sigterm_unwinds_drops_the_scratch_database_and_leaves_the_target(clone_db, tmp_path):
    tgt, archive, key = _archive_and_target(clone_db, tmp_path)
    pristine = _counts(tgt.url)
    before = _scratch_databases(tgt.url)
    proc = subprocess.Popen(
        [*CLI, *_import_args(archive, tgt, key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not _scratch_databases(tgt.url) - before and proc.poll() is None:
        assert time.monotonic() < deadline, "no scratch database appeared"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # while Airflow builds or migrates the scratch database
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert _scratch_databases(tgt.url) == before
    assert _counts(tgt.url) == pristine


def test_conflicting_rows(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    archive = str(tmp_path / "a")
    key = _export(src, archive)
    # The target already ran one of the same runs itself (a different run with that run_id).
    import sqlite3

    path = tgt.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO dag_run (dag_id, run_id, state, run_type, logical_date, run_after, clear_number, conf, span_status) "
            "VALUES ('lab_retry_fail', 'manual__2024-02-01T00:00:00+00:00', 'success', 'manual', '2024-02-01 00:00:00.000000', "
            "'2024-02-01 00:00:00.000000', 0, '{}', 'ended')"
        )
    base = [
        "import",
        archive,
        tgt.url,
        "--archive-key",
        key,
        "--target-fernet-key",
        tgt.fixture.fernet_key,
    ]
    before = rows.count(tgt.url, "task_instance")
    fail = airshift(*base, "--on-conflict", "fail")
    assert fail.returncode == 3 and "conflict" in fail.stderr
    assert rows.count(tgt.url, "task_instance") == before == 0
    skip = airshift(*base, "--json")
    assert skip.returncode == 0, skip.stderr[-2000:]
    t = json.loads(skip.stdout)["merge"]["tables"]
    assert t["dag_run"]["existing"] == 1

    def in_run(table: str, state: str = "") -> int:
        """Rows of ``table`` in the target's own run (of ``state``, if given)."""
        of_state = f"state = '{state}' AND " if state else ""
        run = "dag_id = 'lab_retry_fail' AND run_id = 'manual__2024-02-01T00:00:00+00:00'"
        return rows.count(tgt.url, table, f"WHERE {of_state}{run}")

    assert in_run("dag_run", "success") == 1
    # Its task instances stayed with it: none of the source's were mixed into the target's run.
    assert in_run("task_instance") == 0
    over = airshift(*base, "--on-conflict", "overwrite", "--json")
    assert over.returncode == 0, over.stderr[-2000:]
    assert in_run("dag_run", "failed") == 1
    assert in_run("task_instance") > 0


def test_refusals_leave_the_target_unchanged(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    archive = tmp_path / "a"
    key = _export(src, str(archive))
    tk = tgt.fixture.fernet_key
    wrong = airshift(
        "import",
        str(archive),
        tgt.url,
        "--archive-key",
        build.Fernet.generate_key().decode(),
        "--target-fernet-key",
        tk,
    )
    assert wrong.returncode == 2 and "archive key is wrong" in wrong.stderr
    victim = archive / "tables" / "dag_run" / "part-00000.parquet"
    victim.write_bytes(victim.read_bytes()[:-10])
    damaged = airshift(
        "import", str(archive), tgt.url, "--archive-key", key, "--target-fernet-key", tk
    )
    assert damaged.returncode == 2 and "damaged" in damaged.stderr
    assert rows.count(tgt.url, "dag_run") == 0
    # An archive of a 3.x database cannot go into a 2.x target.
    newer = clone_db("3.3.2", "sqlite")
    older = clone_db("2.10.5", "sqlite")
    a3 = tmp_path / "a3"
    assert airshift("export", newer.url, "--to", str(a3), "--secrets", "skip").returncode == 0
    runs = rows.count(older.url, "dag_run")
    back = airshift("import", str(a3), older.url, "--secrets", "skip")
    assert back.returncode == 2 and "older than the archive's source" in back.stderr
    assert rows.count(older.url, "dag_run") == runs


def test_oldest_2x_source_keeps_failed_tries(clone_db, tmp_path):
    """2.8 has no task_instance_history: its failed tries live only in task_fail, which
    Airflow 3's migration drops. airshift rebuilds them as history rows."""
    src = clone_db("2.8.4", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    proc = _migrate(src, tgt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    made = report["improvements"]["task_instance_history_from_task_fail"]
    assert made > 0
    after = build.probe(tgt.fixture, tgt.url, tmp_path / "h", tgt.fixture.fernet_key)
    retried = [t for t in after["tries"] if t[1] == "flaky_then_ok"]
    assert retried and all(t[4] == 1 and t[5] == "failed" for t in retried)


def test_dry_run_touches_nothing_and_undeployed_dags_still_get_history(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "bare")  # no DAG parsed yet
    pristine = {
        t: rows.count(tgt.url, t) for t in ("dag", "dag_run", "task_instance", "log", "variable")
    }
    dry = _migrate(src, tgt, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = json.loads(dry.stdout)["merge"]
    assert planned["dry_run"] and planned["tables"]["task_instance"]["inserted"] == rows.count(
        src.url, "task_instance"
    )
    assert {t: rows.count(tgt.url, t) for t in pristine} == pristine
    real = _migrate(src, tgt)
    assert real.returncode == 0, real.stderr[-3000:]
    report = json.loads(real.stdout)
    assert sorted(report["dags_not_deployed"]) == sorted(build.DAG_IDS)
    assert (
        report["merge"]["tables"]["task_instance"]["inserted"]
        == planned["tables"]["task_instance"]["inserted"]
    )
    assert rows.count(tgt.url, "dag") == len(build.DAG_IDS)


def _set_paused(url: str, dag_id: str, paused: bool) -> None:
    eng = db.engine_for(url)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE dag SET is_paused = {'true' if paused else 'false'} WHERE dag_id = '{dag_id}'"
        )
    eng.dispose()


def test_migrate_copies_task_logs_too(clone_db, tmp_path):
    """--logs SRC=DST: every log file the source wrote follows its try; tries that never
    wrote a file (``dags test`` logs to the console) are reported missing, with exit 1; a try
    with neither a file nor a history row is reported absent (nothing to lose)."""
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    source_logs = f"{src.fixture.home}/logs"
    proc = _migrate(src, tgt, "--logs", f"{source_logs}={tmp_path / 'logs'}")
    report = json.loads(proc.stdout)["logs"]
    written = sorted(
        p.relative_to(source_logs).as_posix() for p in Path(source_logs).rglob("attempt=*.log")
    )
    copied = sorted(
        p.relative_to(tmp_path / "logs").as_posix() for p in (tmp_path / "logs").rglob("*.log")
    )
    assert written and copied == written
    assert report["counts"]["copied"] == len(written)
    assert {r["status"] for r in report["results"]} <= {"copied", "missing", "absent"}
    assert proc.returncode == (1 if report["counts"].get("missing") else 0)
    assert all(
        (tmp_path / "logs" / c).read_bytes() == (Path(source_logs) / c).read_bytes() for c in copied
    )


def test_wrong_target_fernet_key_is_refused(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    key = _export(src, str(tmp_path / "a"))
    token = build.Fernet(tgt.fixture.fernet_key.encode()).encrypt(b"the target's own").decode()
    eng = db.engine_for(tgt.url)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO variable (key, val, is_encrypted) VALUES ('own', '{token}', 1)"
        )
    eng.dispose()
    wrong = airshift(
        "import",
        str(tmp_path / "a"),
        tgt.url,
        "--archive-key",
        key,
        "--target-fernet-key",
        build.Fernet.generate_key().decode(),
    )
    assert wrong.returncode == 2 and "does not decrypt the target's own variables" in wrong.stderr
    assert rows.count(tgt.url, "dag_run") == 0


def test_convert_pickled_xcoms_on_request(clone_db, tmp_path):
    """Pickled XComs (2.x only) become the JSON Airflow would have written unpickled."""
    src = clone_db("2.10.5", "sqlite")
    tgt = clone_db("3.3.2", "sqlite", "target")
    proc = _migrate(src, tgt, "--convert-pickled")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    after = build.probe(tgt.fixture, tgt.url, tmp_path / "h", tgt.fixture.fernet_key)
    by_run = {}
    for dag_id, run_id, task_id, map_index, key, value in after["xcoms"]:
        by_run.setdefault(run_id, {})[(dag_id, task_id, map_index, key)] = value
    pickled, plain = (
        by_run["manual__2024-02-02T00:00:00+00:00"],
        by_run["manual__2024-02-01T00:00:00+00:00"],
    )
    assert report["improvements"]["pickled_xcoms_converted"] == len(pickled) > 0
    # The same DAG pushed the same values on both days: once pickled, once as JSON.
    assert pickled == {k: v for k, v in plain.items() if k[0] == "lab_xcom_taskflow"}


def test_2x_to_newer_2x(clone_db, tmp_path):
    src = clone_db("2.8.4", "sqlite")
    tgt = clone_db("2.10.5", "sqlite", "target")
    before = build.probe(src.fixture, src.url, tmp_path / "h1", src.fixture.fernet_key)
    proc = _migrate(src, tgt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = build.probe(tgt.fixture, tgt.url, tmp_path / "h2", tgt.fixture.fernet_key)
    for part in ("runs", "tis", "xcoms", "run_notes", "ti_notes", "variables", "connections"):
        assert after[part] == before[part], part
    assert rows.count(tgt.url, "task_fail") == rows.count(src.url, "task_fail") > 0


def test_a_target_newer_than_the_merge_knows_is_refused(monkeypatch):
    """A schema newer than the merge knows may change what a row means, as 3.4 did (every
    try a task_instance row): the import must be refused before anything changes, not
    succeed without the tries. Shown with the merge's knowledge set back to 3.3."""
    head_34 = versions.head_of(AIRFLOW_3_4)
    assert head_34 is not None
    importer.check_mergeable(head_34)  # 3.4 is known now
    monkeypatch.setattr(importer, "NEWEST_MERGEABLE_HEAD", versions.head_of("3.3.2"))
    with pytest.raises(AirshiftError, match="newer than this airshift can import into"):
        importer.check_mergeable(head_34)


def test_a_scratch_that_cannot_be_made_stops_migrate_before_the_export_ends(clone_db, tmp_path):
    """A target role without the right to create databases: the scratch for Airflow's
    migrations cannot be made (in a thread, while the export runs). ``migrate`` says so and
    stops the export there, rather than once the whole export is written; the target is
    unchanged."""
    src, tgt = clone_db("2.10.5", "postgresql"), clone_db("3.3.2", "postgresql", "target")
    role = "airshift_no_createdb"
    engine = db.engine_for(tgt.url)
    try:
        with engine.begin() as conn:
            if not conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first():
                conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOCREATEDB")
            for what in ("TABLES", "SEQUENCES"):
                conn.exec_driver_sql(f"GRANT ALL ON ALL {what} IN SCHEMA public TO {role}")
    finally:
        engine.dispose()
    as_role = type(
        "Target", (), {"url": tgt.url.replace("postgres@", f"{role}@", 1), "fixture": tgt.fixture}
    )
    runs = rows.count(tgt.url, "dag_run")
    proc = _between("migrate", src, as_role, "--archive", str(tmp_path / "archive"))
    assert proc.returncode == 2, proc.stderr  # refused (README: exit codes)
    assert "grant CREATE DATABASE or pass --scratch-url" in " ".join(proc.stderr.split())
    assert "exported to" not in proc.stderr  # stopped inside the export
    assert rows.count(tgt.url, "dag_run") == runs
