"""``airshift agent``: environments whose database cannot be reached (Amazon MWAA, Airflow 3).

Every command takes an environment as ``http(s)://HOST`` (an Airflow web server or API
server with the agent installed) or ``mwaa://NAME[?region=R]``; no database URL. Exit
codes are the CLI's own: 0 ok, 1 differences or a job that did not finish, 2 bad input
(no agent, refused credentials, wrong key, ...), 3 conflicts with --on-conflict fail.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from airshift.agent import library, login, remote
from airshift.agent.client import AgentClient
from airshift.agent.protocol import JobRequest, compatibility_problem
from airshift.archive import sealed
from airshift.cli_options import DagIdOpt, JsonOpt, LastRunsOpt, ReportOpt, SecretsToOpt, SinceOpt
from airshift.errors import ExitCode
from airshift.report import console

agent_app = typer.Typer(
    help="Export and import through the airshift agent inside an Airflow environment "
    "(Amazon MWAA, Airflow 3): no database URL needed.",
    no_args_is_help=True,
)

EnvArg = Annotated[
    str, typer.Argument(help="The environment: http(s)://HOST[:PORT] or mwaa://NAME[?region=R].")
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--airflow-token", envvar="AIRSHIFT_AIRFLOW_TOKEN", help="An Airflow API token (JWT)."
    ),
]
UserOpt = Annotated[
    str | None,
    typer.Option("--airflow-user", envvar="AIRSHIFT_AIRFLOW_USER", help="An Airflow admin user."),
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--airflow-password", envvar="AIRSHIFT_AIRFLOW_PASSWORD", help="That user's password."
    ),
]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Tables read/loaded at once.")]
OnConflictOpt = Annotated[str, typer.Option(help="skip (default), overwrite or fail.")]
UnpauseOpt = Annotated[
    str, typer.Option(help="After the import: source-state (default) or keep-paused.")
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Report what the import would insert and skip; change nothing."),
]
OnlineOpt = Annotated[bool, typer.Option("--online", help="Never lock a target table (slower).")]


def _client(url: str, token: str | None, user: str | None, password: str | None) -> AgentClient:
    return AgentClient(login.connect(url, token, user, password))


def _environment(side: str) -> tuple[inspect.Parameter, list[inspect.Parameter]]:
    """The argument and the login options a command's ``AgentClient`` parameter stands for:
    ``client``, a command's one environment (``--airflow-token/-user/-password``); any other
    name, one side of several (``source``: ``--source-token``, AIRSHIFT_SOURCE_AIRFLOW_TOKEN...)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    logins: Iterable[tuple[str, Any]]
    if side == "client":
        argument = inspect.Parameter("environment", kind, annotation=EnvArg)
        names = ("airflow_token", "airflow_user", "airflow_password")
        logins = zip(names, (TokenOpt, UserOpt, PasswordOpt), strict=True)
    else:
        where = f"{side.title()} environment (http(s)://... or mwaa://...)."
        argument = inspect.Parameter(
            side, kind, annotation=Annotated[str, typer.Argument(help=where)]
        )
        logins = (
            (
                f"{side}_{what}",
                Annotated[
                    str | None,
                    typer.Option(envvar=f"AIRSHIFT_{side.upper()}_AIRFLOW_{what.upper()}"),
                ],
            )
            for what in ("token", "user", "password")
        )
    return argument, [inspect.Parameter(n, kind, annotation=a, default=None) for n, a in logins]


def _on_environment(name: str | None = None, *, require: bool = True):
    """Register a command on environments, written as ``fn(client, ...)`` (or with several
    ``AgentClient`` parameters, such as ``source`` and ``target``).

    Each ``AgentClient`` parameter becomes the environment's argument (in its place) and its
    login options (before ``--json``), declared here once; the command gets a client logged in
    to each environment (with ``require``, one whose agent speaks this airshift's protocol)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())
        assert own[-1].name == "json_out", fn
        sides = {p.name: _environment(p.name) for p in own if p.annotation is AgentClient}
        params = [sides[p.name][0] if p.name in sides else p for p in own[:-1]]
        logins = [login for _, side_logins in sides.values() for login in side_logins]
        signature = inspect.Signature([*params, *logins, own[-1]])

        @functools.wraps(fn)
        def command(**given: Any) -> None:
            clients = {}
            for side, (argument, side_logins) in sides.items():
                logged = (given.pop(login.name) for login in side_logins)
                clients[side] = _client(given.pop(argument.name), *logged)
                if require:
                    remote.require(clients[side])
            fn(**clients, **given)

        command.__signature__ = signature  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        return agent_app.command(name)(command)

    return register


def _log(quiet: bool):
    return (
        (lambda m: None)
        if quiet
        else (lambda m: console.err.print(f"[dim]{escape(m)}[/]", highlight=False))
    )


@contextlib.contextmanager
def _following(client: AgentClient | None, quiet: bool):
    """A progress display; Ctrl-C leaves the remote job running and says how to re-attach."""
    try:
        with console.RichProgress(enabled=not quiet and sys.stderr.isatty()) as bar:
            yield bar
    except KeyboardInterrupt:
        console.err.print(
            "[bold red]interrupted[/]: the job runs on in the environment; `airshift agent "
            "attach URL JOB` follows it again (`airshift agent jobs URL` lists them)."
        )
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _export_options(dag_id, since, last_runs, include, exclude, secrets, pause, jobs) -> dict:
    if since is not None:
        from airshift.metadata.selection import parse_since

        parse_since(since)  # refused here, before any job starts
    return {
        "dag_ids": dag_id,
        "since": since,
        "last_runs": last_runs,
        "include": include,
        "exclude": exclude,
        "secrets": secrets,
        "pause": pause,
        "jobs": jobs,
    }


def _import_options(on_conflict, unpause, secrets, dry_run, online, jobs) -> dict:
    return {
        "on_conflict": on_conflict,
        "unpause": unpause,
        "secrets": secrets,
        "dry_run": dry_run,
        "online": online,
        "jobs": jobs,
    }


def _finish_import(
    report: dict, json_out: bool, report_path: str | None, extra: dict | None = None
) -> None:
    data = report | (extra or {})
    if report_path:
        console.write_report(report_path, data)
    if json_out:
        console.print_json(data)
    else:
        console.render_import(data)
    if library.differing(report):
        raise typer.Exit(ExitCode.FAILED)


@_on_environment(require=False)
def check(client: AgentClient, json_out: JsonOpt = False) -> None:
    """Is the agent installed, which version, and may this caller use it? (exit 1: not allowed)"""
    info = client.check()
    problem = compatibility_problem(info)
    data = info | {
        "environment": client.env.label,
        "compatible": problem is None,
        "problem": problem,
    }
    if json_out:
        console.print_json(data)
    else:
        db = info.get("database") or {}
        console.out.print(
            f"airshift agent {info['version']} (protocol {info['protocol']}) on Airflow "
            f"{info['airflow_version']} at {client.env.label}"
            + (f"; database {db.get('airflow_version')} ({db.get('backend')})" if db else ""),
            highlight=False,
        )
        allowed = (
            "[green]allowed[/]"
            if info["allowed"]
            else f"[red]not allowed[/]: {escape(str(info.get('reason')))}"
        )
        console.out.print(f"caller {info.get('user')!r}: {allowed}", highlight=False)
        if problem:
            console.out.print(f"[red]{escape(problem)}[/]", highlight=False)
    if problem:
        raise typer.Exit(ExitCode.USAGE)
    if not info["allowed"]:
        raise typer.Exit(ExitCode.FAILED)


@agent_app.command()
def keygen(json_out: JsonOpt = False) -> None:
    """Make a key pair for sealing secrets: give exports the public key, keep the private one."""
    private, public = sealed.new_key_pair()
    if json_out:
        console.print_json(
            {
                "public_key": public,
                "private_key": private,
                "fingerprint": sealed.fingerprint(public),
            }
        )
        return
    console.out.print(f"public key (for exports):  {public}", highlight=False, soft_wrap=True)
    console.out.print(
        f"private key (keep secret, for imports): {private}", highlight=False, soft_wrap=True
    )


@_on_environment("export")
def export_command(
    client: AgentClient,
    to: Annotated[
        str, typer.Option("--to", help="Archive location both environments reach (s3://...).")
    ],
    public_key: Annotated[
        str | None,
        typer.Option(
            envvar="AIRSHIFT_PUBLIC_KEY",
            help="Seal secrets to this public key (`airshift agent keygen`); else a key pair is "
            "made and its private key printed once.",
        ),
    ] = None,
    dag_id: DagIdOpt = [],  # noqa: B006
    since: SinceOpt = None,
    last_runs: LastRunsOpt = None,
    include: Annotated[list[str], typer.Option(help="Only these tables (glob; repeatable).")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option(help="Leave out these tables (glob).")] = [],  # noqa: B006
    secrets: Annotated[str, typer.Option(help="'seal' (default) or 'skip'.")] = "seal",
    pause: Annotated[
        bool, typer.Option("--pause", help="Pause the exported DAGs meanwhile.")
    ] = False,
    jobs: JobsOpt = 2,
    json_out: JsonOpt = False,
) -> None:
    """Export an environment's metadata to an archive, from inside the environment."""
    private = None
    if secrets == "seal" and not public_key:
        private, public_key = sealed.new_key_pair()
    opts = _export_options(dag_id, since, last_runs, include, exclude, secrets, pause, jobs)
    job = JobRequest(
        remote.new_job_id(), "export", to, opts, key=public_key if secrets == "seal" else None
    )
    with _following(client, json_out) as bar:
        summary = remote.outcome(remote.run(client, job, bar, _log(json_out)))
    if json_out:
        console.print_json(summary | {"job": job.id, "generated_private_key": private})
        return
    console.out.print(
        f"[green]exported[/] {summary['rows']} rows from {len(summary['tables'])} tables of "
        f"{summary['source']['airflow_version']} to {summary['archive']}",
        highlight=False,
    )
    if private:
        console.err.print(
            "[bold yellow]private key (shown once; keep it safe, the import needs it):[/]\n"
            + private,
            highlight=False,
            soft_wrap=True,
        )


@_on_environment("import")
def import_command(
    archive: Annotated[
        str, typer.Argument(help="The archive (s3://...), at the environment's schema.")
    ],
    client: AgentClient,
    archive_key: Annotated[
        str | None,
        typer.Option(
            envvar="AIRSHIFT_ARCHIVE_KEY",
            help="The private key the archive's secrets are sealed to (or its Fernet archive key).",
        ),
    ] = None,
    on_conflict: OnConflictOpt = "skip",
    unpause: UnpauseOpt = "source-state",
    secrets: Annotated[str, typer.Option(help="'import' (default) or 'skip'.")] = "import",
    secrets_to: SecretsToOpt = None,
    dry_run: DryRunOpt = False,
    online: OnlineOpt = False,
    upgrade_in_target: Annotated[
        bool,
        typer.Option(
            help="An archive at an older schema is upgraded in the environment, by its own "
            "Airflow, in a scratch schema of its database (dropped afterwards)."
        ),
    ] = False,
    jobs: JobsOpt = 2,
    report: ReportOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Merge an archive into an environment, from inside it (the key travels only in the request).

    With --secrets-to, connections and variables are opened here (this machine holds the
    key) and written to Secrets Manager with this machine's credentials; the environment
    imports the rest."""
    from airshift.api import SecretsOut
    from airshift.archive import ArchiveReader
    from airshift.choices import ImportSecrets, OnConflict

    target = SecretsOut.target_of(secrets_to, ImportSecrets(secrets))
    out = None
    if target:  # the archive is read here only to open its secrets
        out = SecretsOut.ready(target, ArchiveReader(archive), archive_key, OnConflict(on_conflict))
    opts = _import_options(on_conflict, unpause, secrets, dry_run, online, jobs)
    opts["upgrade_in_target"] = upgrade_in_target
    if out and secrets_to:  # the environment never gets the key then
        opts["secrets_elsewhere"] = SecretsOut.reason(secrets_to)
    job = JobRequest(remote.new_job_id(), "import", archive, opts, key=None if out else archive_key)
    with _following(client, json_out) as bar:
        result = remote.outcome(remote.run(client, job, bar, _log(json_out)))
    written = out.write(dry_run, _log(json_out)) if out else None
    extra = {"job": job.id, "secrets_to": written.as_dict() if written else None}
    _finish_import(result, json_out, report, extra)
    if written and written.failed:
        raise typer.Exit(ExitCode.FAILED)


@_on_environment()
def attach(
    client: AgentClient,
    job_id: Annotated[str, typer.Argument(help="The job's id (printed when it started).")],
    json_out: JsonOpt = False,
) -> None:
    """Follow a job again (after a dropped connection or Ctrl-C) to its end and report it."""
    with _following(client, json_out) as bar:
        status = remote.follow(client, job_id, bar, _log(json_out))
    result = remote.outcome(status)
    if status["kind"] == "import":
        _finish_import(result, json_out, None, {"job": job_id})
    elif json_out:
        console.print_json(result | {"job": job_id})
    else:
        console.out.print(
            f"[green]exported[/] {result['rows']} rows to {result['archive']}", highlight=False
        )


@_on_environment("jobs")
def jobs_command(client: AgentClient, json_out: JsonOpt = False) -> None:
    """The environment's recent agent jobs, newest first."""
    found = client.recent()
    if json_out:
        console.print_json({"jobs": found})
        return
    for j in found:
        console.out.print(
            f"{j['id']}  {j['kind']:<6}  {j['state']:<9}  {j['created_at']}  {j['created_by']}  {j['archive']}",
            highlight=False,
        )


@_on_environment(require=False)
def migrate(
    source: AgentClient,
    target: AgentClient,
    archive: Annotated[
        str,
        typer.Option(help="Where the archive goes: a location both environments reach (s3://...)."),
    ],
    dag_id: DagIdOpt = [],  # noqa: B006
    since: SinceOpt = None,
    last_runs: LastRunsOpt = None,
    secrets: Annotated[str, typer.Option(help="'import' (default) or 'skip'.")] = "import",
    pause: Annotated[bool, typer.Option(help="Pause the source's DAGs while exporting.")] = True,
    on_conflict: OnConflictOpt = "skip",
    unpause: UnpauseOpt = "source-state",
    dry_run: DryRunOpt = False,
    online: OnlineOpt = False,
    scratch_url: Annotated[
        str | None, typer.Option(help="Database for the upgrade on this machine (default: SQLite).")
    ] = None,
    upgrade_in: Annotated[
        str,
        typer.Option(
            help="Where an archive of an older schema is upgraded: 'target' (its own Airflow, "
            "a scratch schema in its database), 'here' (Airflow installed on this machine), or "
            "'auto': here with --scratch-url or when the target's database has no schemas."
        ),
    ] = "auto",
    jobs: JobsOpt = 2,
    report: ReportOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Migrate between two environments through their agents, with no database URL.

    Export in the source, upgrade when the versions differ (in the target, or on this
    machine: --upgrade-in), import in the target. The archive's private key is printed
    once (it re-imports the archive)."""
    if upgrade_in not in ("auto", "here", "target"):
        raise typer.BadParameter("takes auto, here or target", param_hint="--upgrade-in")
    seal = "skip" if secrets == "skip" else "seal"
    export_opts = _export_options(
        dag_id, since, last_runs, [], [], seal, pause and not dry_run, jobs
    )
    import_opts = _import_options(on_conflict, unpause, secrets, dry_run, online, jobs)
    with _following(None, json_out) as bar:
        result = remote.migrate(
            source,
            target,
            archive,
            export_opts,
            import_opts,
            bar,
            _log(json_out),
            scratch_url,
            upgrade_in,
        )
    if seal == "seal":
        console.err.print(
            "[bold yellow]private key of the archive (shown once; needed to import it again):[/]\n"
            + result.private_key,
            highlight=False,
            soft_wrap=True,
        )
    extra: dict[str, Any] = {
        "archives": result.archives,
        "export": result.export,
        "upgrade": result.upgrade,
    }
    _finish_import(result.report, json_out, report, extra)


@agent_app.command()
def bundle(
    airflow: Annotated[str, typer.Option("--airflow", help="The environment's Airflow version.")],
    out: Annotated[
        Path, typer.Option("--out", help="plugins.zip to write (or a new folder of wheels).")
    ],
    python: Annotated[
        str, typer.Option(help="The environment's Python version (MWAA: 3.11 / 3.12).")
    ] = "",
    platform: Annotated[
        str, typer.Option(help="The environment's platform (uv's --python-platform).")
    ] = "x86_64-manylinux_2_28",
    constraints: Annotated[
        Path | None,
        typer.Option(
            help="The environment's constraints file (MWAA: its Airflow constraints); default: "
            "Airflow's own packages as of its release date."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Wheels of the agent for environments without a package index (plugins.zip).

    Holds the agent and what it needs beyond the environment's own packages; prints the
    requirements.txt lines that install them from the plugins folder."""
    from airshift.agent import bundle as make

    made = make.bundle(airflow, out, python or None, platform, constraints, log=_log(json_out))
    if json_out:
        console.print_json(made)
        return
    console.out.print(
        f"{len(made['wheels'])} wheels in {made['out']}", highlight=False, markup=False
    )
    console.out.print(
        "requirements.txt lines:\n" + "\n".join(made["requirements"]), highlight=False, markup=False
    )
