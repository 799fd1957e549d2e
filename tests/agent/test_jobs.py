"""Job records in an environment's database (agent/jobs.py), on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from airshift.agent.jobs import LOST_AFTER, JobStore
from airshift.agent.protocol import JobRequest
from airshift.agent.remote import new_job_id


def _job(key: str | None = None) -> JobRequest:
    return JobRequest(new_job_id(), "import", "s3://b/a", {"dry_run": False}, key=key)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_one_running_job_a_lost_one_frees_the_slot(empty_database, backend):
    engine = sa.create_engine(empty_database(backend))
    store = JobStore(engine)
    first, second = _job("x25519-private:secret"), _job()
    started, status = store.start(first, "admin")
    assert started and status["state"] == "running" and status["created_by"] == "admin"
    assert store.start(first, "admin") == (False, store.get(first.id))  # the same job: re-attach
    started, status = store.start(second, "admin")
    assert not started and status["id"] == first.id  # another job runs: refused
    # The first job's process dies: no heartbeat for longer than LOST_AFTER.
    old = (dt.datetime.now(dt.timezone.utc) - LOST_AFTER * 2).isoformat()
    with engine.begin() as conn:
        conn.execute(store.table.update().values(heartbeat_at=old))
    assert store.get(first.id)["state"] == "lost"
    started, _ = store.start(second, "admin")
    assert started and store.get(first.id)["final"]
    store.finish(second.id, "succeeded", {"result": {"rows": 1}, "log": ["done"], "log_count": 1})
    assert store.active() is None and store.get(second.id)["result"] == {"rows": 1}
    with engine.connect() as conn:
        stored = " ".join(str(v) for r in conn.execute(sa.select(store.table)) for v in r)
    assert "secret" not in stored  # the key never reaches the record
    if backend == "postgresql":
        assert store.table.schema == "airshift_agent"  # out of Airflow's (and exports') way
    engine.dispose()
