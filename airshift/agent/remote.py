"""Jobs on agents, driven from the user's machine: start, follow, re-attach, migrate.

Why polling: a job outlives any single connection (hours, proxies with 60 s idle limits,
laptops that sleep). The CLI starts it with an id it chose, so a start that is retried
after a dropped connection finds the same job instead of running it twice; it then polls
the job's record, mirroring the agent's per-table progress into the same progress
display a local run shows, and printing its log. When the environment cannot be reached
the CLI keeps retrying for ``RECONNECT_FOR``; the job runs on regardless, and
``airshift agent attach URL JOB`` follows it again later.

``migrate`` joins two agents: export on the source, sealed to a public key made here;
the upgrade between versions, when one is needed, on this machine (Airflow's own
migrations, as ``airshift upgrade`` does); the import on the target, the only place the
private key is sent. The database of neither environment is ever reached directly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airshift.agent import library
from airshift.agent.client import AgentClient, Unreachable
from airshift.agent.protocol import JobRequest, compatibility_problem
from airshift.archive import sealed
from airshift.errors import AirshiftError, ExitCode

POLL = 1.0  # seconds between polls
RECONNECT_FOR = 300.0  # seconds the CLI keeps trying to reach a running job's environment

Log = Callable[[str], object]


def new_job_id() -> str:
    return uuid.uuid4().hex


def require(client: AgentClient) -> dict:
    """The agent's check answer, once it is certain this caller can use it."""
    info = client.check()
    problem = compatibility_problem(info)
    if problem:
        raise AirshiftError(problem)
    if not info.get("allowed"):
        raise AirshiftError(
            f"{client.env.label} refused {info.get('user')!r}: {info.get('reason')} Nothing was run."
        )
    return info


def attach_hint(client: AgentClient, job_id: str) -> str:
    return f"airshift agent attach {client.env.label} {job_id}"


@dataclass
class _Mirror:
    """Shows a job's progress in a local ``rich`` progress display and prints its log."""

    progress: Any
    log: Log
    tasks: dict[int, Any] = field(default_factory=dict)
    seen: int = 0  # log lines already printed

    def show(self, status: dict) -> None:
        for i, t in enumerate(status.get("progress", [])):
            if self.progress is None:
                break
            if i not in self.tasks:
                self.tasks[i] = self.progress.add_task(t["description"], total=t["total"])
            self.progress.update(self.tasks[i], total=t["total"], completed=t["completed"])
        count, lines = status.get("log_count", 0), status.get("log", [])
        for line in lines[max(0, len(lines) - (count - self.seen)) :]:
            self.log(line)
        self.seen = count


def run(client: AgentClient, job: JobRequest, progress: Any, log: Log) -> dict:
    """Start ``job`` (or find it already started) and follow it to its end."""
    code, answer = client.start(job)
    if code == 409:
        other = answer.get("job") or {}
        raise AirshiftError(
            f"{answer.get('error')} Follow it with `{attach_hint(client, other.get('id', 'JOB'))}`."
        )
    log(f"{job.kind} job {job.id} running in {client.env.label}")
    return follow(client, job.id, progress, log)


def follow(client: AgentClient, job_id: str, progress: Any, log: Log) -> dict:
    mirror, unreachable_since = _Mirror(progress, log), None
    while True:
        try:
            status = client.status(job_id)
        except Unreachable as exc:
            now = time.monotonic()
            if unreachable_since is None:
                unreachable_since = now
                log(f"lost the connection ({exc.message}); the job runs on, retrying")
            elif now - unreachable_since > RECONNECT_FOR:
                raise AirshiftError(
                    f"{exc.message} The job {job_id} runs on in the environment; follow it again "
                    f"with `{attach_hint(client, job_id)}`.",
                    ExitCode.FAILED,
                ) from None
            time.sleep(POLL * 2)
            continue
        if unreachable_since is not None:
            log("reconnected")
            unreachable_since = None
        mirror.show(status)
        if status["final"]:
            return status
        time.sleep(POLL)


def outcome(status: dict) -> dict:
    """A finished job's result, or its failure as the error the user reads."""
    if status["state"] == "succeeded":
        return status["result"]
    if status["state"] == "lost":
        raise AirshiftError(
            f"The {status['kind']} job {status['id']} stopped without finishing: its process in the "
            "environment ended (a restarted or replaced server). An import's transaction rolled "
            "back with it; run the command again.",
            ExitCode.FAILED,
        )
    error = status.get("error") or {}
    raise AirshiftError(
        error.get("message", "The job failed."), error.get("exit_code", ExitCode.FAILED)
    )


@dataclass
class MigrateResult:
    export: dict
    upgrade: dict | None
    report: dict
    archives: list[str]
    private_key: str = field(repr=False)


def migrate(
    source: AgentClient,
    target: AgentClient,
    archive: str,
    export_options: dict,
    import_options: dict,
    progress: Any,
    log: Log,
    scratch_url: str | None = None,
) -> MigrateResult:
    """Source agent -> archive -> (upgrade here) -> target agent, with no database URL."""
    src, tgt = require(source), require(target)
    src_rev, tgt_rev = (i["database"]["alembic_revision"] for i in (src, tgt))
    library.check_direction(src_rev, tgt_rev)
    log(
        f"source: {source.env.label} ({src['database']['airflow_version']}); "
        f"target: {target.env.label} ({tgt['database']['airflow_version']})"
    )
    private, public = sealed.new_key_pair()
    root = archive.rstrip("/")
    exported = f"{root}/export"
    export_job = JobRequest(new_job_id(), "export", exported, export_options, key=public)
    summary = outcome(run(source, export_job, progress, log))
    to_import, upgrade = exported, None
    if src_rev != tgt_rev:
        release = library.release_with_head(tgt_rev)
        to_import = f"{root}/upgraded-{release}"
        log(f"upgrading the archive to Airflow {release} on this machine")
        upgrade = library.upgrade(
            exported,
            release,
            to_import,
            private,
            progress,
            log,
            scratch_url,
            export_options["jobs"],
        )
    import_job = JobRequest(new_job_id(), "import", to_import, import_options, key=private)
    report = outcome(run(target, import_job, progress, log))
    return MigrateResult(
        summary, upgrade, report, [exported] + ([to_import] if upgrade else []), private
    )
