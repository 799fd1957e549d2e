"""Shared fixtures: real Airflow databases (built by tests/realairflow/build.py) cloned per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airshift import db
from tests.realairflow import build

# Each (Airflow version, backend) the export/import suites run against.
SOURCES = [
    ("2.10.5", "sqlite"),
    ("2.10.5", "postgresql"),
    ("2.10.5", "mysql"),
    ("3.3.2", "sqlite"),
    ("3.3.2", "postgresql"),
    ("2.8.4", "sqlite"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--matrix",
        action="store_true",
        help="Also run the whole version matrix (every MWAA version pair; see docs/airflow-3.4.md).",
    )
    parser.addoption(
        "--full",
        action="store_true",
        help="Also run the long tests (marked full; e.g. every kill point, docs/reliability.md).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``matrix`` run only with --matrix, ``full`` only with --full: the default
    run keeps a subset."""
    for marker, reason in (
        ("matrix", "part of the full version matrix: run with --matrix"),
        ("full", "a long test of the full suite: run with --full"),
    ):
        if config.getoption(f"--{marker}"):
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if item.get_closest_marker(marker):
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache_state(tmp_path_factory, monkeypatch) -> None:
    """Keep pause-state files of one test away from another's (venvs stay shared)."""
    monkeypatch.delenv("AIRFLOW__CORE__FERNET_KEY", raising=False)
    monkeypatch.delenv("AIRSHIFT_ARCHIVE_KEY", raising=False)


class ClonedDB:
    """A private copy of a fixture database; dropped at the end of the test."""

    def __init__(self, fixture: build.Fixture, tmp: Path) -> None:
        self.fixture = fixture
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        target = str(tmp / f"{self.name}.db") if fixture.backend == "sqlite" else self.name
        self.url = build.clone(fixture, target)

    def drop(self) -> None:
        if self.fixture.backend == "postgresql":
            db.drop_database(build.PG_SERVER, self.name)
        elif self.fixture.backend == "mysql":
            db.drop_database(build.MYSQL_SERVER, self.name)


@pytest.fixture
def clone_db(tmp_path) -> Iterator:
    """clone_db(version, backend) -> ClonedDB, a private copy of a real Airflow database."""
    made: list[ClonedDB] = []

    def make(version: str, backend: str, kind: str = "history") -> ClonedDB:
        c = ClonedDB(build.get_fixture(version, backend, kind), tmp_path)
        made.append(c)
        return c

    yield make
    for c in made:
        c.drop()


@pytest.fixture
def empty_database(tmp_path) -> Iterator:
    """empty_database(backend) -> URL of a new, empty database on that server."""
    made: list[tuple[str, str]] = []

    def make(backend: str) -> str:
        name = f"e_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        server = build.PG_SERVER if backend == "postgresql" else build.MYSQL_SERVER
        made.append((server, name))
        return db.create_database(server, name)

    yield make
    for server, name in made:
        db.drop_database(server, name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aws_env(endpoint: str) -> dict[str, str]:
    """The environment variables that point boto3 and s3fs at the moto server."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }


@dataclass(frozen=True)
class Aws:
    endpoint: str
    env: dict[str, str]


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError("moto server did not start")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port: the stand-in for S3 and CloudWatch."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """AWS clients of this process (boto3, s3fs) pointed at the moto server."""
    env = aws_env(moto_server)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return Aws(moto_server, env)


def pytest_report_header() -> str:
    return f"airshift cache: {os.environ.get('AIRSHIFT_CACHE', '~/.cache/airshift')}"
