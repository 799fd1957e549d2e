"""What a killed run leaves behind, the next run for the same target removes; what a run
still in progress holds, it leaves alone (issue #21: five scratch databases, each a full
copy of the source's history, were left on the target's server for good)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest

from airshift import db
from airshift.metadata import scratch
from tests.realairflow import build
from tests.scratch_holder import hold

SERVERS = {"postgresql": build.PG_SERVER, "mysql": build.MYSQL_SERVER}


def _exists(url: str) -> bool:
    parsed = db.parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return Path(parsed.database or "").parent.exists()
    eng = db.engine_for(SERVERS[backend])
    try:
        with eng.connect() as conn:
            names = conn.exec_driver_sql(db.backend_of(parsed).list_databases_sql).scalars()
            return parsed.database in set(names)
    finally:
        eng.dispose()


def _target(backend: str, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tempfile.gettempdir()}/{name}.db"
    return str(db.parse_url(SERVERS[backend]).set(database=name).render_as_string(False))


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
def test_next_run_drops_what_a_killed_run_left_and_spares_a_live_one(backend) -> None:
    name = f"reliability_left_{uuid.uuid4().hex[:8]}"
    target = _target(backend, name)
    killed, left = hold(target, "kill")
    assert killed.returncode == -9 and _exists(left)
    live, held = hold(target, "live")  # the next run: it drops what the killed one left
    try:
        assert not _exists(left) and _exists(held)
        said: list[str] = []
        with scratch.scratch_database(target, log=said.append) as ours:
            assert _exists(ours) and _exists(held) and said == []  # a live run's is spared
        assert not _exists(ours) and _exists(held)
    finally:
        live.kill()
        live.wait(30)
    with scratch.scratch_database(target, log=said.append) as last:
        assert not _exists(held)
    assert not _exists(last)
    assert len(said) == 1 and "interrupted run left behind" in said[0]
