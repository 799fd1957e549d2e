"""Agent jobs: their records in the environment's own database, and their processes.

Why the environment's database: an environment may run several web servers or API
servers behind one address (Amazon MWAA scales them), and a poll can reach any of them.
The metadata database is the one thing they all share, so each job is a row there: a
dropped connection, a poll through another server or a restarted server loses nothing.
On PostgreSQL the table lives in its own schema (``airshift_agent.job``), out of
Airflow's way and out of airshift's own exports; elsewhere it is ``airshift_agent_job``.

Why a process of its own: an export or import runs for minutes to hours, far beyond any
HTTP request; it runs in a new session (``start_new_session``), so a web server worker
recycled meanwhile does not take it down. It gets the database URL, the Fernet key and
the archive key on its standard input, never on its command line or in the record.

At most one job runs per environment: the ``active`` column is unique and set only while
a job runs, so a second start is refused by the database itself, on any server. A job
whose process died stops sending heartbeats and is reported ``lost`` after
``LOST_AFTER``; its slot is then free again.

The SQL here is plain SQLAlchemy Core that 1.4 (Airflow 2.x, 3.0) and 2.x both run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from airshift import memory
from airshift.agent.protocol import FINAL_STATES, JobRequest
from airshift.errors import AirshiftError

LOST_AFTER = dt.timedelta(seconds=60)
HEARTBEAT = 2.0  # seconds between the job process's writes of its progress
LOG_LINES = 200  # the newest lines of a job's log kept in its record


def _table(schema: str | None, name: str) -> sa.Table:
    text = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")
    return sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active", sa.String(1), unique=True),  # "1" while running, else NULL
        sa.Column("request", text, nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("created_by", sa.String(250)),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("heartbeat_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("host", sa.String(250)),
        sa.Column("pid", sa.Integer),
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class JobStore:
    """The job records of one environment, through an engine on its metadata database."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        from airshift import backends  # not at import: the plugin loads in every web server

        self.engine = engine
        own = backends.of(engine).own_schemas
        self.table = _table(
            "airshift_agent" if own else None, "job" if own else "airshift_agent_job"
        )
        self._ready = False

    def ensure(self) -> None:
        """Create the schema and table on first use (idempotent, safe on several servers)."""
        if self._ready:
            return
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    if self.table.schema:
                        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {self.table.schema}"))
                    self.table.create(conn, checkfirst=True)
                break
            except sa.exc.DBAPIError:
                if attempt == 2:  # another server created it at the same moment: look again
                    raise
        self._ready = True

    def start(self, job: JobRequest, user: str | None) -> tuple[bool, dict]:
        """Record ``job`` as running. Returns (True, its status) when it is new; (False, the
        status of the same job, or of the job that is running) when it cannot start."""
        self.ensure()
        existing = self.get(job.id)
        if existing is not None:
            return False, existing
        self._release_lost()
        now = _now()
        row = {
            "id": job.id,
            "kind": job.kind,
            "state": "running",
            "active": "1",
            "request": json.dumps(job.stored()),
            "status": json.dumps({"progress": [], "log": []}),
            "created_by": user,
            "created_at": now,
            "heartbeat_at": now,
            "host": socket.gethostname(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(**row))
        except sa.exc.IntegrityError:
            in_the_way = self.get(job.id) or self.active()
            if in_the_way is None:  # the job that was in the way finished meanwhile
                raise AirshiftError(
                    "Another airshift job was starting at the same moment; try again."
                ) from None
            return False, in_the_way
        started = self.get(job.id)
        if started is None:
            raise AirshiftError(f"The record of job {job.id} was gone as soon as it was written.")
        return True, started

    def get(self, job_id: str) -> dict | None:
        self.ensure()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.id == job_id)).first()
        return _status(row._mapping) if row is not None else None

    def active(self) -> dict | None:
        """The job that holds the environment's slot, if any."""
        self.ensure()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.active == "1")).first()
        return _status(row._mapping) if row is not None else None

    def recent(self, limit: int = 20) -> list[dict]:
        self.ensure()
        query = sa.select(self.table).order_by(self.table.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_status(r._mapping) for r in conn.execute(query)]

    def set_pid(self, job_id: str, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == job_id).values(pid=pid))

    def beat(self, job_id: str, status: dict) -> None:
        """The running job's progress and log, and proof that it is alive."""
        with self.engine.begin() as conn:
            conn.execute(
                self.table.update()
                .where(self.table.c.id == job_id, self.table.c.state == "running")
                .values(status=json.dumps(status, default=str), heartbeat_at=_now())
            )

    def finish(self, job_id: str, state: str, status: dict) -> None:
        """The final state and report; the environment's slot is free again."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                self.table.update()
                .where(self.table.c.id == job_id)
                .values(
                    state=state,
                    active=None,
                    status=json.dumps(status, default=str),
                    heartbeat_at=now,
                    finished_at=now,
                )
            )

    def _release_lost(self) -> None:
        """Mark a running job whose process stopped beating as lost, freeing the slot."""
        current = self.active()
        if current is not None and current["state"] == "lost":
            self.finish(
                current["id"], "lost", {k: current[k] for k in ("progress", "log", "log_count")}
            )


def _status(row: Any) -> dict:
    status = json.loads(row["status"])
    request = json.loads(row["request"])
    state = row["state"]
    beat = dt.datetime.fromisoformat(row["heartbeat_at"])
    if state == "running" and dt.datetime.now(dt.timezone.utc) - beat > LOST_AFTER:
        state = "lost"
    return {
        "id": row["id"],
        "kind": row["kind"],
        "state": state,
        "archive": request["archive"],
        "options": request["options"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "heartbeat_at": row["heartbeat_at"],
        "finished_at": row["finished_at"],
        "host": row["host"],
        "pid": row["pid"],
        "progress": status.get("progress", []),
        "log": status.get("log", []),
        "log_count": status.get("log_count", 0),
        "result": status.get("result"),
        "error": status.get("error"),
        "final": state in FINAL_STATES,
    }


def spawn(job: JobRequest, db_url: str, fernet_key: str | None) -> int:
    """Start the job's process; its inputs, secrets included, go through a pipe. It is a
    new interpreter, so Arrow's C++ code can still be put on the system allocator there
    (the host, Airflow's server, loaded pyarrow long before)."""
    env = os.environ.copy()
    memory.arrow_on_system_pool(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "airshift.agent.runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        env=env,
    )
    payload = {"job": job.body(), "db_url": db_url, "fernet_key": fernet_key}
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    # Reaped by a thread, so no zombie is left in a long-lived server worker.
    threading.Thread(target=proc.wait, name=f"airshift-job-{job.id}", daemon=True).start()
    return proc.pid
