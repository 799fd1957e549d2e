"""A throwaway PostgreSQL server of this test's own, to restart under a running import.

Why not the shared server on 5432: every test run on the machine (and every other agent)
uses it; restarting it would fail them all. ``initdb`` + ``pg_ctl`` make a cluster in a
temporary folder on a free port, owned by the ``postgres`` user when the tests run as root
(PostgreSQL refuses to run as root); it is stopped and deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airshift import db
from tests.conftest import free_port
from tests.realairflow import build


@dataclass(frozen=True)
class Cluster:
    folder: Path
    port: int
    as_owner: tuple[str, ...]  # the prefix that runs a command as the cluster's owner

    @property
    def server(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> list[str]:
        """``pg_ctl`` for this cluster; the server's log goes to a file (a server that
        inherited our stdout would keep a caller that reads it waiting forever)."""
        data, log = str(self.folder / "data"), str(self.folder / "log")
        return [*self.as_owner, "pg_ctl", "-D", data, "-l", log, "-w", *args]

    def copy_in(self, fixture: build.Fixture, name: str) -> str:
        """A copy of a PostgreSQL fixture database (on the shared server) on this one."""
        url = db.create_database(self.server, name)
        dump = subprocess.run(
            ["pg_dump", "-Fc", "-h", "127.0.0.1", "-U", "postgres", fixture.cached],
            capture_output=True,
            check=True,
        )
        subprocess.run(
            [
                *("pg_restore", "--no-owner", "-h", "127.0.0.1", "-p", str(self.port)),
                *("-U", "postgres", "-d", name),
            ],
            input=dump.stdout,
            check=True,
        )
        return url

    def restart_command(self) -> str:
        """The shell command that restarts the cluster as an administrator would (``-m
        fast``: sessions ended, open transactions rolled back), returning once it answers."""
        return shlex.join(self.pg_ctl("-m", "fast", "restart"))


@contextlib.contextmanager
def private_postgres() -> Iterator[Cluster]:
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("a private PostgreSQL server needs initdb and pg_ctl on PATH")
    as_owner: tuple[str, ...] = ()
    folder = Path(tempfile.mkdtemp(prefix="airshift-faults-pg-"))
    if os.geteuid() == 0:
        as_owner = ("runuser", "-u", "postgres", "--")
        shutil.chown(folder, "postgres")
    cluster = Cluster(folder, free_port(), as_owner)
    options = f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        initdb = ("initdb", "--no-sync", "-A", "trust", "-U", "postgres")
        subprocess.run(
            [*as_owner, *initdb, "-D", str(folder / "data")],
            capture_output=True,
            check=True,
        )
        subprocess.run(
            cluster.pg_ctl("-o", options, "start"),
            capture_output=True,
            check=True,
        )
        yield cluster
    finally:
        subprocess.run(cluster.pg_ctl("-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
