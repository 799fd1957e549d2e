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

from airshift.agent import library
from airshift.agent.client import AgentClient, Unreachable
from airshift.agent.protocol import JobRequest, compatibility_problem
from airshift.archive import sealed
from airshift.errors import AirshiftError, ExitCode
from airshift.progress import Progress

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

    progress: Progress
    log: Log
    shown: dict[str, int] = field(default_factory=dict)  # units of each task shown so far
    seen: int = 0  # log lines already printed

    def show(self, status: dict) -> None:
        for t in status.get("progress", []):
            name = t["description"]
            advance = t["completed"] - self.shown.get(name, 0)
            self.shown[name] = t["completed"]
            self.progress.update(name, advance, total=t["total"])
        count, lines = status.get("log_count", 0), status.get("log", [])
        for line in lines[max(0, len(lines) - (count - self.seen)) :]:
            self.log(line)
        self.seen = count


def run(client: AgentClient, job: JobRequest, progress: Progress, log: Log) -> dict:
    """Start ``job`` (or find it already started) and follow it to its end."""
    code, answer = client.start(job)
    if code == 409:
        other = answer.get("job") or {}
        raise AirshiftError(
            f"{answer.get('error')} Follow it with `{attach_hint(client, other.get('id', 'JOB'))}`."
        )
    log(f"{job.kind} job {job.id} running in {client.env.label}")
    return follow(client, job.id, progress, log)


def follow(client: AgentClient, job_id: str, progress: Progress, log: Log) -> dict:
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


def upgrade_place(choice: str, scratch_url: str | None, target_db: dict) -> str:
    """``here`` or ``target``: where ``migrate`` upgrades an archive (see there)."""
    if choice == "target" and scratch_url:
        raise AirshiftError(
            "--scratch-url is where an upgrade here runs: not with --upgrade-in target."
        )
    if choice != "auto":
        return choice
    return "here" if scratch_url or not target_db.get("scratch_schema") else "target"


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
    progress: Progress,
    log: Log,
    scratch_url: str | None = None,
    upgrade_in: str = "auto",
) -> MigrateResult:
    """Source agent -> archive -> (upgrade here) -> target agent, with no database URL.

    ``upgrade_in``: where an archive of an older schema is upgraded: ``here`` (Airflow
    runtimes on this machine, scratch on SQLite or ``scratch_url``), ``target`` (the
    target's own Airflow, a scratch schema in its database: nothing to install here), or
    ``auto``: here when a ``scratch_url`` is given or the target's database has no
    schemas, else in the target."""
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
    where = upgrade_place(upgrade_in, scratch_url, tgt["database"])
    if src_rev != tgt_rev and where == "target":
        log(f"the archive is upgraded in {target.env.label}, with its own Airflow")
        import_options = import_options | {"upgrade_in_target": True}
    elif src_rev != tgt_rev:
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
