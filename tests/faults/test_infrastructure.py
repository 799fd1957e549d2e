"""Infrastructure that fails under airshift: a database connection ended mid-import, an
archive location that fills up, an S3 bucket that is not there. Each ends with one clear
paragraph and its exit code, and leaves nothing half-written: the target as it was, no
scratch database, no archive that could be taken as complete."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from airshift import airflow_env
from airshift.archive import ArchiveReader
from airshift.runtimes import releases, venv
from tests import rows
from tests.faults.flaky_s3 import flaky_s3
from tests.faults.lab import airshift, assert_clear_error, comparable, record, snapshot
from tests.faults.pgcluster import private_postgres
from tests.metadata.test_import import _export, _export_args, _import_args, _scratch_databases
from tests.realairflow import build

MID_MERGE = """
import subprocess
import sys
from airshift.metadata import merge
write, calls, command = merge._Merger._write, [0], sys.argv[1]
def interrupted(self, *args, **kwargs):
    calls[0] += 1
    if calls[0] == 3:  # the merge's transaction is open and has written two tables
        pid = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        subprocess.run(command.format(pid=pid), shell=True, check=True, capture_output=True)
    return write(self, *args, **kwargs)
merge._Merger._write = interrupted
from airshift.cli import main
sys.argv = ["airshift", *sys.argv[2:]]
main()
"""


def _interrupted_import(src, tgt, tmp_path: Path, command: str, fault: str) -> None:
    """Import ``src`` into ``tgt`` and run the shell ``command`` ({pid}: the merge's server
    process) when the merge has written two tables: one clear paragraph, the target as it
    was (pause flags too), no scratch database left once the same command has run again,
    and that run succeeds."""
    archive = str(tmp_path / "a")
    args = _import_args(archive, tgt, _export(src, archive))
    before = comparable(tgt.url)
    proc = subprocess.run(
        [sys.executable, "-c", MID_MERGE, command, *args], capture_output=True, text=True
    )
    message = assert_clear_error(
        proc, 2, r"database failed while airshift worked.*(administrator command|shut ?down)"
    )
    assert comparable(tgt.url) == before  # rolled back, pause flags restored
    rerun = airshift(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _scratch_databases(tgt.url) == set()
    record("faults", fault=fault, exit_code=proc.returncode, message=message)


@pytest.mark.full
def test_connection_terminated_mid_merge(clone_db, tmp_path) -> None:
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("3.3.2", "postgresql", "target")
    terminate = 'psql -h 127.0.0.1 -U postgres -Atc "SELECT pg_terminate_backend({pid})"'
    _interrupted_import(
        src,
        tgt,
        tmp_path,
        terminate,
        "PostgreSQL connection terminated (pg_terminate_backend) mid-merge",
    )


@pytest.mark.full
def test_target_server_restarted_mid_merge(clone_db, tmp_path) -> None:
    """The target's own server (a private one: the shared server is not ours to restart)
    restarted while the merge's transaction is open."""
    src = clone_db("2.10.5", "postgresql")
    fixture = build.get_fixture("3.3.2", "postgresql", "target")
    with private_postgres() as cluster:
        tgt = SimpleNamespace(url=cluster.copy_in(fixture, "restarted"), fixture=fixture)
        _interrupted_import(
            src,
            tgt,
            tmp_path,
            cluster.restart_command(),
            "target PostgreSQL server restarted (pg_ctl restart -m fast) mid-merge",
        )


@contextlib.contextmanager
def _tiny_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_archive_location_full(clone_db, tmp_path) -> None:
    src = clone_db("2.10.5", "postgresql")
    before = snapshot(src.url)
    with _tiny_tmpfs(tmp_path / "full", "96k") as full:
        archive = full / "a"
        proc = airshift(*_export_args(src, archive, "--pause"))
        message = assert_clear_error(proc, 2, r"Cannot write the archive.*No space left on device")
        assert not (archive / "manifest.json").exists()
        left = [p for p in archive.rglob("*") if p.is_file()] if archive.exists() else []
        assert left == []
    assert snapshot(src.url) == before  # its pause flags too
    record(
        "faults",
        fault="archive location full (a 96 KiB tmpfs)",
        exit_code=proc.returncode,
        message=message,
    )


def test_s3_endpoint_down(clone_db, aws) -> None:
    src = clone_db("2.10.5", "sqlite")
    env = {
        **aws.env,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "FSSPEC_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "2",
    }
    proc = airshift(
        "export",
        src.url,
        "--to",
        "s3://reliability/archive",
        "--fernet-key",
        src.fixture.fernet_key,
        env=env,
    )
    message = assert_clear_error(proc, 2, r"Cannot write to the archive location s3://")
    record(
        "faults",
        fault="S3: the endpoint does not answer",
        exit_code=proc.returncode,
        message=message,
    )


def _export_to_s3(src, aws, endpoint: str, location: str, *extra: str):
    """``airshift export`` of ``src`` to ``location`` through the S3 endpoint ``endpoint``."""
    env = {**aws.env, "AWS_ENDPOINT_URL": endpoint, "FSSPEC_S3_ENDPOINT_URL": endpoint}
    return airshift(*_export_args(src, location, *extra), env=env)


def test_s3_throttled_export_retries_and_completes(clone_db, aws) -> None:
    """Every third request answered ``503 SlowDown``: botocore's retries carry the export
    through, and the archive is complete and verifies."""
    boto3.client("s3").create_bucket(Bucket="reliability-throttled")
    src = clone_db("2.10.5", "sqlite")
    location = "s3://reliability-throttled/archive"
    with flaky_s3(aws.endpoint, lambda n, method: n % 3 == 0) as s3:
        proc = _export_to_s3(src, aws, s3.url, location, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert s3.refused > 0
    reader = ArchiveReader(location)
    assert reader.verify() == []
    assert reader.manifest.tables["dag_run"].rows == rows.count(src.url, "dag_run")
    record(
        "faults",
        fault="S3 throttling: every third request answered 503 SlowDown",
        exit_code=proc.returncode,
        message=f"(none: {s3.refused} of {s3.requests} requests refused and retried; "
        "the archive is complete and verifies)",
    )


@pytest.mark.full  # the retries' back-off takes minutes before it gives up
def test_s3_failing_writes_leave_no_complete_archive(clone_db, aws) -> None:
    """S3 keeps refusing writes after the first few (503 SlowDown on every PUT and POST,
    beyond what retries outlast): a clear error, the source's pause flags restored, and no
    manifest at the location, so the unfinished archive cannot be taken for a complete one."""
    s3_client = boto3.client("s3")
    s3_client.create_bucket(Bucket="reliability-failing")
    src = clone_db("2.10.5", "sqlite")
    before = snapshot(src.url)
    location = "s3://reliability-failing/archive"

    def refuse_writes(n: int, method: str) -> bool:
        return n > 6 and method in ("PUT", "POST")

    with flaky_s3(aws.endpoint, refuse_writes) as s3:
        proc = _export_to_s3(src, aws, s3.url, location, "--pause")
    message = assert_clear_error(proc, 2, r"Cannot write the archive to s3://.*(SlowDown|rate)")
    assert s3.refused > 0
    listed = s3_client.list_objects_v2(Bucket="reliability-failing").get("Contents", [])
    assert "archive/manifest.json" not in {o["Key"] for o in listed}
    assert snapshot(src.url) == before
    incomplete = airshift("inspect", location, env=aws.env)
    assert_clear_error(incomplete, 2, "not a complete airshift archive")
    record(
        "faults",
        fault="S3 errors: every write refused (503 SlowDown) after the first six requests",
        exit_code=proc.returncode,
        message=message,
    )


def _broken_wheelhouse(folder: Path, version: str) -> Path:
    """A wheelhouse as ``runtimes download`` writes one, whose Airflow wheel is damaged:
    the install gets as far as a new virtualenv and fails in the middle."""
    resolution = releases.resolve(version)
    folder.mkdir()
    wheel = f"apache_airflow-{version}-py3-none-any.whl"
    (folder / wheel).write_bytes(b"PK\x03\x04" + b"\0" * 64)  # a zip cut off after its header
    (folder / venv.WHEELHOUSE_PINS).write_text(f"apache-airflow=={version}\n")
    spec = {
        "version": version,
        "requirements": airflow_env.requirements_for(version),
        "rule": resolution.rule,
        "uploaded": resolution.uploaded.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "exempt_from_cutoff": [],
        "python": venv.python_tag(),
        "wheels": [wheel],
    }
    (folder / venv.WHEELHOUSE_SPEC).write_text(json.dumps(spec))
    return folder


def test_runtime_install_that_fails_halfway(tmp_path) -> None:
    """A runtime install that fails in the middle (a damaged wheel) or is killed there
    (SIGKILL once its virtualenv exists) leaves no runtime a command would use: the failure
    is one clear error and removes the folder; the killed one stays marked incomplete (it
    has no stamp) until the next install replaces it."""
    env = {"AIRSHIFT_CACHE": str(tmp_path / "cache"), "UV_OFFLINE": "1"}
    house = _broken_wheelhouse(tmp_path / "wheelhouse", "2.10.5")
    install = ["runtimes", "install", "2.10.5", "--from", str(house)]
    failed = airshift(*install, env=env)
    message = assert_clear_error(failed, 2, r"Could not install apache-airflow")
    listed = airshift("runtimes", "list", "--json", env=env)
    assert json.loads(listed.stdout)["runtimes"] == []
    killer = str(Path(__file__).with_name("killer.py"))
    where = "airshift.runtimes.venv:run_tool"
    killed = subprocess.run(
        [sys.executable, killer, where, "after", "1", "KILL", "--", *install],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    listed = airshift("runtimes", "list", "--json", env=env)
    assert [r["state"] for r in json.loads(listed.stdout)["runtimes"]] == ["incomplete"]
    assert airshift("runtimes", "path", "2.10.5", env=env).returncode == 1  # not used
    again = airshift(*install, env=env)
    assert_clear_error(again, 2, r"Could not install apache-airflow")
    listed = airshift("runtimes", "list", "--json", env=env)
    assert json.loads(listed.stdout)["runtimes"] == []
    record(
        "faults",
        fault="runtime install fails halfway (a damaged wheel; SIGKILL after its venv)",
        exit_code=failed.returncode,
        message=message,
    )
