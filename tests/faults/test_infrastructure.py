"""Infrastructure that fails under airshift: a database connection ended mid-import, an
archive location that fills up, an S3 bucket that is not there. Each ends with one clear
paragraph and its exit code, and leaves nothing half-written: the target as it was, no
scratch database, no archive that could be taken as complete."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.lab import airshift, assert_clear_error, comparable, record, snapshot
from tests.metadata.test_import import _export, _export_args, _import_args, _scratch_databases
from tests.realairflow import build

SEVER = """
import sys
import sqlalchemy as sa
from airshift.metadata import merge
write, calls, server = merge._Merger._write, [0], sys.argv[1]
def severed(self, *args, **kwargs):
    calls[0] += 1
    if calls[0] == 3:  # the merge's transaction is open and has written two tables
        pid = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        admin = sa.create_engine(server)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        admin.dispose()
    return write(self, *args, **kwargs)
merge._Merger._write = severed
from airshift.cli import main
sys.argv = ["airshift", *sys.argv[2:]]
main()
"""


@pytest.mark.full
def test_connection_terminated_mid_merge(clone_db, tmp_path) -> None:
    src = clone_db("2.10.5", "postgresql")
    tgt = clone_db("3.3.2", "postgresql", "target")
    archive = str(tmp_path / "a")
    args = _import_args(archive, tgt, _export(src, archive))
    before = comparable(tgt.url)
    proc = subprocess.run(
        [sys.executable, "-c", SEVER, build.PG_SERVER, *args], capture_output=True, text=True
    )
    message = assert_clear_error(
        proc, 2, r"database failed while airshift worked.*administrator command"
    )
    assert comparable(tgt.url) == before  # rolled back, pause flags restored
    assert _scratch_databases(tgt.url) == set()
    rerun = airshift(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    record(
        "faults",
        fault="PostgreSQL connection terminated (pg_terminate_backend) mid-merge",
        exit_code=proc.returncode,
        message=message,
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
