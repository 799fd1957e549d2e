"""Export real Airflow databases and prove the archive holds every row, exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from airshift import airflow_env
from airshift.archive import ArchiveReader
from airshift.archive.secrets import multi_fernet
from tests import rows
from tests.conftest import SOURCES
from tests.realairflow import build
from tests.realairflow.versions import AIRFLOW_3_4

CLI = [sys.executable, "-m", "airshift"]


def airshift(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize(("version", "backend"), SOURCES, ids=[f"{v}-{b}" for v, b in SOURCES])
def test_export_holds_every_row_and_secret(clone_db, tmp_path, version, backend):
    src = clone_db(version, backend)
    archive = tmp_path / "archive"
    proc = airshift(
        "export",
        src.url,
        "--to",
        str(archive),
        "--fernet-key",
        src.fixture.fernet_key,
        "--jobs",
        "3",  # more readers than this machine's cores: every table still whole and exact
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    key = out["generated_archive_key"]
    reader = ArchiveReader(str(archive))
    assert reader.verify() == []
    m = reader.manifest
    assert m.source["backend"] == backend
    assert m.source["alembic_revision"]
    assert "session" not in m.tables and "alembic_version" not in m.tables
    assert m.tables["dag_run"].rows >= 4 and m.tables["task_instance"].rows >= 20
    for name, entry in m.tables.items():
        assert entry.rows == rows.count(src.url, name), name
        if name in ("variable", "connection"):
            continue  # compared below, after unsealing
        types = {c["name"]: c["sql_type"] for c in entry.columns}
        expected = rows.source_rows(src.url, name, types)
        if name == "log":  # the CLI's own audit rows hold the secrets it was given
            expected = [tuple(_mask(v) for v in r) for r in expected]
        assert rows.canon(rows.archive_rows(str(archive), entry)) == rows.canon(expected), name
    assert m.secrets["log_values_redacted"] > 0
    # Secrets: sealed with the archive key, never plaintext, and they open to the originals.
    sealed = multi_fernet(key, "archive key")
    variables = {r[0]: r[1] for r in _pairs(archive, m, "variable", "key", "val")}
    assert {k: sealed.decrypt(v.encode()).decode() for k, v in variables.items()} == build.VARIABLES
    passwords = {r[0]: r[1] for r in _pairs(archive, m, "connection", "conn_id", "password")}
    assert {k: sealed.decrypt(v.encode()).decode() for k, v in passwords.items()} == {
        k: c["password"] for k, c in build.CONNECTIONS.items()
    }
    extras = dict(_pairs(archive, m, "connection", "conn_id", "extra"))
    assert (
        json.loads(sealed.decrypt(extras["lab_postgres"].encode()))
        == build.CONNECTIONS["lab_postgres"]["extra"]
    )
    for path in archive.rglob("*.parquet"):
        blob = path.read_bytes()
        assert (
            b"lab-pass-123" not in blob
            and b"s3cr3t-value" not in blob
            and b"xyz-extra-secret" not in blob
        )


_PLAIN = [
    *build.VARIABLES.values(),
    *(c["password"] for c in build.CONNECTIONS.values()),
    build.CONNECTIONS["lab_postgres"]["extra"]["api_key"],
    json.loads(build.VARIABLES["lab_secret_json"])["token"],
]
# Each secret as written, and as it reads inside JSON text (the audit log's extra is JSON).
SECRETS = sorted({f for s in _PLAIN for f in (s, json.dumps(s)[1:-1])}, key=len, reverse=True)


def _mask(value):
    """What a secret-free audit log looks like: every known secret replaced by ***."""
    if isinstance(value, str):
        for secret in SECRETS:
            value = value.replace(secret, "***")
    return value


def _pairs(archive: Path, manifest, table: str, key: str, col: str):
    entry = manifest.tables[table]
    names = [c["name"] for c in entry.columns]
    for r in rows.archive_rows(str(archive), entry):
        yield r[names.index(key)], r[names.index(col)]


def test_migration_issues_are_counted(clone_db):
    src = clone_db("2.10.5", "postgresql")
    data = json.loads(airshift("inspect", src.url, "--json").stdout)
    issues = data["migration_issues"]
    assert (
        issues["pickled_xcoms"] == rows.count(src.url, "xcom", "WHERE get_byte(value, 0) = 128") > 0
    )
    assert issues["task_fail"] == rows.count(src.url, "task_fail") > 0
    assert issues["sla_miss"] == 1
    assert data["airflow_version"].startswith("Airflow 2.10.3")
    assert {t["name"]: t["rows"] for t in data["tables"]}["dag_run"] == rows.count(
        src.url, "dag_run"
    )


def test_filters_keep_runs_whole(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    archive = tmp_path / "a"
    proc = airshift(
        "export",
        src.url,
        "--to",
        str(archive),
        "--dag-id",
        "lab_retry_*",
        "--last-runs",
        "1",
        "--secrets",
        "skip",
    )
    assert proc.returncode == 0, proc.stderr
    m = ArchiveReader(str(archive)).manifest
    runs = rows.archive_rows(str(archive), m.tables["dag_run"])
    assert len(runs) == 1
    names = [c["name"] for c in m.tables["dag_run"].columns]
    dag_id, run_id = runs[0][names.index("dag_id")], runs[0][names.index("run_id")]
    assert dag_id == "lab_retry_fail"
    where = f"WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'"
    assert m.tables["task_instance"].rows == rows.count(src.url, "task_instance", where) > 0
    assert m.tables["task_fail"].rows == rows.count(src.url, "task_fail", where)
    assert m.tables["dag"].rows == 1
    assert m.secrets["mode"] == "skipped"
    vnames = [c["name"] for c in m.tables["variable"].columns]
    assert all(
        r[vnames.index("val")] is None
        for r in rows.archive_rows(str(archive), m.tables["variable"])
    )


def test_a_dag_filter_keeps_the_jobs_its_rows_refer_to(clone_db, tmp_path):
    """The backfill and scheduler jobs that queued a DAG's tasks belong to no DAG, yet the
    DAG's runs and task instances refer to them: they come along (the merge maps a
    reference through the rows it imports, and would clear one to a row left out)."""
    src = clone_db("2.10.5", "postgresql")
    archive = tmp_path / "a"
    args = ["--dag-id", "lab_retry_*", "--secrets", "skip"]
    proc = airshift("export", src.url, "--to", str(archive), *args)
    assert proc.returncode == 0, proc.stderr
    m = ArchiveReader(str(archive)).manifest

    def values(table: str, cols: list[str]) -> set:
        names = [c["name"] for c in m.tables[table].columns]
        taken = rows.archive_rows(str(archive), m.tables[table])
        return {r[names.index(c)] for r in taken for c in cols} - {None}

    referred = values("task_instance", ["job_id", "queued_by_job_id"])
    referred |= values("dag_run", ["creating_job_id"])
    jobs = values("job", ["id"])
    assert referred <= jobs
    no_dag = "WHERE dag_id IS NULL AND id IN (SELECT queued_by_job_id FROM task_instance)"
    assert rows.count(src.url, "job", no_dag) > 0  # the case is there to be kept
    assert len(jobs) < rows.count(src.url, "job")  # and the filter still filters


def test_filters_keep_attempt_owned_rows_with_their_runs(clone_db, tmp_path):
    """Airflow 3.4 keys new XComs and rendered fields by the attempt's UUID (``xcom_v2``,
    ``rtif_v2``: no dag_id, run_id or ti_id): a run filter keeps those of its runs only."""
    src = clone_db(AIRFLOW_3_4, "postgresql", "light")
    archive = tmp_path / "a"
    proc = airshift(
        "export", src.url, "--to", str(archive), "--dag-id", "lab_retry_*", "--secrets", "skip"
    )
    assert proc.returncode == 0, proc.stderr
    m = ArchiveReader(str(archive)).manifest
    mine = (
        "WHERE task_instance_id IN (SELECT id FROM task_instance WHERE dag_id = 'lab_retry_fail')"
    )
    for table in ("xcom_v2", "rtif_v2"):
        assert m.tables[table].rows == rows.count(src.url, table, mine) > 0, table
        assert rows.count(src.url, table) > m.tables[table].rows, table


def test_wrong_fernet_key_is_detected_and_nothing_is_left(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    before = rows.count(src.url, "dag", "WHERE is_paused = 1")
    archive = tmp_path / "a"
    wrong = Fernet.generate_key().decode()
    proc = airshift("export", src.url, "--to", str(archive), "--fernet-key", wrong, "--pause")
    assert proc.returncode == 2
    assert "wrong key" in proc.stderr and "Traceback" not in proc.stderr
    assert not archive.exists()
    assert rows.count(src.url, "dag", "WHERE is_paused = 1") == before  # --pause restored


def test_pause_restores_exact_prior_state(clone_db, tmp_path):
    src = clone_db("2.10.5", "postgresql")
    before = rows.source_rows(src.url, "dag", {"dag_id": "", "is_paused": ""})
    assert {p for _, p in before} == {0, 1}  # the fixture has both states
    proc = airshift(
        "export",
        src.url,
        "--to",
        str(tmp_path / "a"),
        "--fernet-key",
        src.fixture.fernet_key,
        "--pause",
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(rows.source_rows(src.url, "dag", {"dag_id": "", "is_paused": ""})) == sorted(
        before
    )
    m = ArchiveReader(str(tmp_path / "a")).manifest
    assert m.pause_state == {d: bool(p) for d, p in before}


def test_killed_export_is_never_taken_as_complete(clone_db, tmp_path):
    src = clone_db("2.10.5", "sqlite")
    archive = tmp_path / "a"
    # Kill the exporting process (SIGKILL: no cleanup can run) after its third table file.
    script = (
        "import os, signal, sys\n"
        "from airshift.archive import writer\n"
        "orig = writer.TableSink.write\n"
        "n = [0]\n"
        "def write(self, batch):\n"
        "    orig(self, batch)\n"
        "    n[0] += 1\n"
        "    if n[0] == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "writer.TableSink.write = write\n"
        "from airshift.cli import main\n"
        "sys.argv = ['airshift'] + sys.argv[1:]\n"
        "main()\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "export",
            src.url,
            "--to",
            str(archive),
            "--secrets",
            "skip",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL
    assert archive.exists() and any(archive.rglob("*.parquet"))
    inspect = airshift("inspect", str(archive))
    assert inspect.returncode == 2
    assert "not a complete airshift archive" in inspect.stderr and "interrupted" in inspect.stderr


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_table_file_is_reported(clone_db, tmp_path, damage):
    src = clone_db("2.10.5", "sqlite")
    archive = tmp_path / "a"
    assert airshift("export", src.url, "--to", str(archive), "--secrets", "skip").returncode == 0
    victim = archive / "tables" / "task_instance" / "part-00000.parquet"
    data = bytearray(victim.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    victim.write_bytes(bytes(data))
    proc = airshift("inspect", str(archive))
    assert proc.returncode == 1
    assert "task_instance/part-00000.parquet" in proc.stdout
    assert ("SHA-256 mismatch" if damage == "flip" else "truncated") in proc.stdout


def test_bad_inputs_get_one_clear_message(clone_db, tmp_path, empty_database):
    cases = {
        "postgresql://postgres@127.0.0.1:1/nothing": "Cannot connect",
        "postgresql://nobody_here@127.0.0.1:5432/postgres": "Cannot connect",
        str(tmp_path / "missing.db"): "No SQLite database",
        empty_database("postgresql"): "not an Airflow metadata database",
    }
    for url, message in cases.items():
        proc = airshift("export", url, "--to", str(tmp_path / "x"))
        assert proc.returncode == 2, url
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    src = clone_db("2.10.5", "sqlite")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    proc = airshift("export", src.url, "--to", str(tmp_path / "full"), "--secrets", "skip")
    assert proc.returncode == 2 and "not empty" in proc.stderr
    import sqlite3

    with sqlite3.connect(src.url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    proc = airshift("inspect", src.url)
    assert proc.returncode == 2 and "Unknown Alembic revision 'deadbeef0000'" in proc.stderr


def test_archive_on_object_storage(clone_db, tmp_path, aws):
    """An s3:// archive (a local moto server stands in for S3): export, check, import."""
    import boto3

    boto3.client("s3").create_bucket(Bucket="airshift-archives")
    src = clone_db("2.10.5", "sqlite")
    url = "s3://airshift-archives/prod/2024-11"
    out = airshift("export", src.url, "--to", url, "--fernet-key", src.fixture.fernet_key, "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    key = json.loads(out.stdout)["generated_archive_key"]
    checked = airshift("inspect", url, "--json")
    assert checked.returncode == 0, checked.stderr[-2000:]
    data = json.loads(checked.stdout)
    assert data["problems"] == [] and {t["name"]: t["rows"] for t in data["tables"]}[
        "dag_run"
    ] == rows.count(src.url, "dag_run")
    tgt = clone_db("3.3.2", "sqlite", "target")
    imported = airshift(
        "import", url, tgt.url, "--archive-key", key, "--target-fernet-key", tgt.fixture.fernet_key
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert rows.count(tgt.url, "task_instance") == rows.count(src.url, "task_instance")


def test_url_encoded_password_never_reaches_the_archive(clone_db, tmp_path):
    """`connections add --conn-uri` with a password that needs URL-encoding: Airflow masks
    the decoded password in its audit log and leaves the encoded one; the archive has neither."""
    src = clone_db("2.10.5", "sqlite")
    password = "p@ss/w0rd+1"
    encoded = "p%40ss%2Fw0rd%2B1"
    airflow_env.ensure("2.10.5").run(
        ["connections", "add", "lab_encoded", "--conn-uri", f"postgres://u:{encoded}@h:5432/db"],
        home=tmp_path / "home",
        db_url=src.url,
        extra_env={"AIRFLOW__CORE__FERNET_KEY": src.fixture.fernet_key},
    )
    audit = " ".join(str(r) for r in rows.source_rows(src.url, "log", {"extra": ""}))
    assert encoded in audit  # the premise: the source's own audit log holds it
    archive = tmp_path / "archive"
    proc = airshift(
        "export", src.url, "--to", str(archive), "--fernet-key", src.fixture.fernet_key, "--json"
    )
    assert proc.returncode == 0, proc.stderr
    forms = {password, encoded, encoded.lower(), "p%40ss/w0rd%2B1", "p%40ss%2Fw0rd%2B1"}
    written = {str(p): p.read_bytes() for p in archive.rglob("*") if p.is_file()}
    written["output"] = (proc.stdout + proc.stderr).encode()
    leaks = {where: f for where, blob in written.items() for f in forms if f.encode() in blob}
    assert not leaks
