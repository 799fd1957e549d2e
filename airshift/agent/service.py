"""The agent's endpoints, free of any web framework: check, start a job, a job's status.

Why framework-free: Airflow 2 serves plugins from Flask, Airflow 3 from FastAPI. Each
of ``airflow2``/``airflow3`` only authenticates the caller (with that Airflow's own auth)
and turns an ``Answer`` into its framework's response; what the agent does, and refuses,
is written once here. Nothing runs for a caller who is not allowed: every endpoint but
``check`` refuses before it looks at the request or the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from airshift import backends, versions
from airshift.agent import jobs
from airshift.agent.protocol import JobRequest, agent_info
from airshift.errors import AirshiftError


@dataclass(frozen=True)
class Caller:
    """Who called, as the environment's auth manager sees them."""

    name: str | None
    allowed: bool
    reason: str | None = None  # why not, when not allowed


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _environment() -> tuple[Any, str, str | None, str]:
    """The environment's engine, database URL, Fernet key and Airflow version."""
    from airflow import __version__, settings
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    return settings.engine, url, conf.get("core", "fernet_key", fallback="") or None, __version__


def check(caller: Caller) -> Answer:
    """Who the agent is; for an allowed caller also the schema revision of the database
    (the CLI decides from it whether an archive must be upgraded first)."""
    engine, _, _, version = _environment()
    info = agent_info(caller.name, caller.allowed, caller.reason, version)
    if caller.allowed:
        info["database"] = _revision(engine)
    return Answer(200, info)


def _revision(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        rev = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    try:
        known = versions.describe(rev)
    except AirshiftError as exc:  # a newer Airflow than this agent: said, not a crash
        return {
            "backend": engine.url.get_backend_name(),
            "alembic_revision": rev,
            "error": exc.message,
        }
    return {
        "backend": engine.url.get_backend_name(),
        "alembic_revision": rev,
        "airflow_version": known.label,
        "releases": list(known.releases),
        # the database holds schemas: an archive can be upgraded here (a scratch schema)
        "scratch_schema": backends.of(engine).own_schemas,
    }


def _refused(caller: Caller) -> Answer:
    return Answer(403, {"error": caller.reason or "Only Airflow administrators can use the agent."})


def start(caller: Caller, body: Any) -> Answer:
    """Start a job: 202 when it starts; 200 with its status when this job already exists
    (a retried start re-attaches instead of running twice); 409 when another job runs."""
    if not caller.allowed:
        return _refused(caller)
    try:
        job = JobRequest.from_body(body)
    except AirshiftError as exc:
        return Answer(400, {"error": exc.message})
    engine, url, fernet_key, _ = _environment()
    store = jobs.JobStore(engine)
    started, status = store.start(job, caller.name)
    if not started:
        if status["id"] == job.id:
            return Answer(200, {"job": status})
        return Answer(
            409,
            {
                "error": f"Another airshift job ({status['kind']} {status['id']}, started by "
                f"{status['created_by']}) is running in this environment; one runs at a time.",
                "job": status,
            },
        )
    pid = jobs.spawn(job, url, fernet_key)
    store.set_pid(job.id, pid)
    return Answer(202, {"job": store.get(job.id)})


def status(caller: Caller, job_id: str) -> Answer:
    if not caller.allowed:
        return _refused(caller)
    engine, *_ = _environment()
    found = jobs.JobStore(engine).get(job_id)
    if found is None:
        return Answer(404, {"error": f"No airshift job {job_id} in this environment."})
    return Answer(200, {"job": found})


def recent(caller: Caller) -> Answer:
    if not caller.allowed:
        return _refused(caller)
    engine, *_ = _environment()
    return Answer(200, {"jobs": jobs.JobStore(engine).recent()})
