"""Fixtures for the agent: airshift's wheel, environments with the agent installed, servers.

Servers are real: ``airflow api-server`` (3.x, simple auth manager) and ``airflow
webserver`` (2.x, FAB with basic auth), on private copies of the real fixture databases,
with the archive bucket on the moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent import envs
from tests.conftest import aws_env

# name -> (role, password). The simple auth manager's roles (3.x) and FAB's (2.x).
USERS_3 = {"admin": ("ADMIN", "admin-pw"), "op": ("OP", "op-pw"), "viewer": ("VIEWER", "viewer-pw")}
USERS_2 = {"admin": ("Admin", "admin-pw"), "op": ("Op", "op-pw"), "viewer": ("Viewer", "viewer-pw")}
CLI = [sys.executable, "-m", "airshift"]


@pytest.fixture(scope="session")
def agent_wheel(tmp_path_factory) -> Path:
    return envs.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def agent_envs(tmp_path_factory, agent_wheel) -> Iterator:
    """agent_envs(version) -> a replica of that release's runtime with the agent installed."""
    made: dict[str, envs.Replica] = {}

    def get(version: str) -> envs.Replica:
        if version not in made:
            made[version] = envs.with_agent(
                version, tmp_path_factory.mktemp(f"env{version}"), agent_wheel
            )
        return made[version]

    return get


@pytest.fixture(scope="session")
def s3(moto_server) -> dict[str, str]:
    """AWS settings pointing at the moto server, with the archive bucket made."""
    import boto3

    env = aws_env(moto_server)
    boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="archives")
    return env


@dataclass
class Running:
    """An environment serving the agent: its URL, database and users' credentials."""

    server: envs.Server
    db_url: str
    fernet_key: str
    users: dict[str, tuple[str, str]]

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, user: str, side: str = "airflow") -> list[str]:
        """CLI options logging in as ``user`` (``side``: airflow, source or target)."""
        return [f"--{side}-user", user, f"--{side}-password", self.users[user][1]]

    def agent_log(self) -> str:
        return (self.server.home / "server.log").read_text(errors="replace")


@pytest.fixture
def environment(tmp_path, clone_db, agent_envs, s3) -> Iterator:
    """environment(version, kind) -> a Running Airflow with the agent, on a copy of the
    real fixture database of that kind (history: a source; target: a new environment)."""
    stack: list = []

    def start(version: str, kind: str = "history", agent: bool = True) -> Running:
        cloned = clone_db(version, "postgresql", kind)
        home = tmp_path / f"home-{uuid.uuid4().hex[:6]}"
        replica = agent_envs(version) if agent else envs.replica(version, tmp_path / "plain")
        major = int(version.split(".")[0])
        users = USERS_3 if major >= 3 else USERS_2
        extra = dict(s3)
        if major >= 3:
            extra |= envs.simple_auth_users(home, users)
        else:
            envs.fab_users(replica, home, cloned.url, cloned.fixture.fernet_key, users)
        envs.copy_dags(Path(cloned.fixture.home) / "dags", home)
        ctx = envs.server(replica, home, cloned.url, cloned.fixture.fernet_key, extra)
        running = Running(ctx.__enter__(), cloned.url, cloned.fixture.fernet_key, users)
        stack.append(ctx)
        return running

    yield start
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


def airshift(
    *args: str, env: dict | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@contextmanager
def running_cli(*args: str, env: dict | None = None) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def job_rows(db_url: str) -> list[dict]:
    """The agent's job records in an environment's database (none when it never ran)."""
    from airshift import db

    engine = db.engine_for(db_url)
    try:
        with engine.connect() as conn:
            if not conn.exec_driver_sql("SELECT to_regclass('airshift_agent.job')").scalar():
                return []
            return [
                dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM airshift_agent.job")
            ]
    finally:
        engine.dispose()


def migrate_directly(source, target) -> dict:
    """The database-URL migration of two cloned databases: what the agents must equal."""
    proc = airshift(
        "migrate", source.url, target.url, "--fernet-key", source.fixture.fernet_key,
        "--target-fernet-key", target.fixture.fernet_key, "--no-pause", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


# Audit rows of the environment's own setup: a server's start, and on 2.x the FAB roles and
# users made with Airflow's CLI (``envs.fab_users``). The direct migration's source has none.
SETUP_EVENTS = ('"cli_api_server"', '"cli_webserver"', '"cli_sync_perm"', '"cli_users_create"')


def assert_same_history(target: Running, direct) -> None:
    """Field by field (test_oracle's queries), secrets decrypted: the target that agents
    filled equals the target the direct migration filled."""
    from tests.metadata.test_oracle import QUERIES, _rows, _secrets

    for table, sql in QUERIES.items():
        ours = [r for r in _rows(target.db_url, sql) if not any(s in r for s in SETUP_EVENTS)]
        assert ours == _rows(direct.url, sql), table
    assert _secrets(target.db_url, target.fernet_key) == _secrets(
        direct.url, direct.fixture.fernet_key
    )


def opened_archive(
    reader, private_key: str, leave_out: dict[str, set[str]] | None = None
) -> dict[str, list[str]]:
    """An archive's tables as sorted rows, each sealed secret opened with ``private_key``:
    what two exports of one database must agree on (sealing itself is randomised).
    ``leave_out``: columns of a table not compared."""
    from airshift.archive import sealed
    from airshift.metadata.registry import spec_of

    box = sealed.SealedBox(private_key)
    out = {}
    for name in reader.manifest.tables:
        secret, skip = spec_of(name).secrets, (leave_out or {}).get(name, set())
        rows = (
            {
                k: box.decrypt(v.encode()) if k in secret and v else v
                for k, v in row.items()
                if k not in skip
            }
            for batch in reader.iter_batches(name)
            for row in batch.to_pylist()
        )
        out[name] = sorted(repr(sorted(r.items())) for r in rows)
    return out
