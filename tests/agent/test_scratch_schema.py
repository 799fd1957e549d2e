"""The scratch as a schema of the target database (the upgrade inside an environment whose
server refuses CREATE DATABASE): Airflow's tables land in it, it is dropped afterwards,
and what a killed run left is dropped by the next run while a live run's is spared."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from airshift import db
from airshift.errors import AirshiftError
from airshift.metadata import scratch
from tests.realairflow import build
from tests.scratch_holder import hold


@pytest.fixture
def target() -> Iterator[str]:
    name = f"agentmwaa_{uuid.uuid4().hex[:8]}"
    server = db.parse_url(build.PG_SERVER)
    backend = db.backend_of(server)
    made = backend.create_database(server, name)
    try:
        yield made.render_as_string(hide_password=False)
    finally:
        backend.drop_database(server, name)


def _schemas(url: str) -> set[str]:
    engine = db.engine_for(url)
    try:
        with engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars()
            return {n for n in names if n.startswith(scratch.scratch_prefix(url))}
    finally:
        engine.dispose()


def _schema_of(url: str) -> str:
    """The schema on the scratch URL's search path (its other options are session settings)."""
    options = str(db.parse_url(url).query["options"])
    return options.split("-csearch_path=", 1)[1].split()[0]


def _hold(target: str, how: str) -> tuple[subprocess.Popen, str]:
    proc, url = hold(target, how, in_target=True)
    return proc, _schema_of(url)


def test_a_scratch_schema_holds_the_tables_and_is_dropped(target):
    with scratch.scratch_database(target, in_target=True) as url:
        assert db.parse_url(url).database == db.parse_url(target).database
        engine = db.engine_for(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE dag_run (id integer)")
                here = conn.exec_driver_sql("SELECT current_schema()").scalar()
                zone = conn.exec_driver_sql("SHOW TimeZone").scalar()
        finally:
            engine.dispose()
        assert here == _schema_of(url) and zone == "UTC"
        assert _schemas(target) == {here}
    assert _schemas(target) == set()
    outside = db.engine_for(target)
    try:
        with outside.connect() as conn:  # the target's own schema never saw the table
            assert conn.exec_driver_sql("SELECT to_regclass('public.dag_run')").scalar() is None
    finally:
        outside.dispose()


def test_next_run_drops_a_killed_runs_schema_and_spares_a_live_one(target):
    killed, left = _hold(target, "kill")
    assert killed.returncode == -signal.SIGKILL and _schemas(target) == {left}
    live, held = _hold(target, "live")
    try:
        assert _schemas(target) == {held}  # the killed run's is gone
        said: list[str] = []
        with scratch.scratch_database(target, log=said.append, in_target=True) as url:
            assert _schemas(target) == {held, _schema_of(url)} and said == []
    finally:
        os.kill(live.pid, signal.SIGKILL)
        live.wait(30)
    with scratch.scratch_database(target, log=said.append, in_target=True):
        assert held not in _schemas(target)
    assert _schemas(target) == set()
    assert len(said) == 1 and "interrupted run left behind" in said[0]


def test_a_database_without_schemas_says_how_to_upgrade_instead(tmp_path):
    with (
        pytest.raises(AirshiftError, match="--upgrade-in here"),
        scratch.scratch_database(f"sqlite:///{tmp_path}/t.db", in_target=True),
    ):
        pass
