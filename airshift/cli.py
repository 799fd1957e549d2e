"""The ``airshift`` command line: a thin Typer layer over the library (``airshift.api``).

Why thin: every command body parses its options, makes one library call and renders the
report it gets back (``console.emit``); what a command does lives in ``airshift.api``, where any
other caller gets the same behaviour. The entry point ``main`` also makes the two
process-wide settings a library must not make on its own (see ``airshift.api``).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import fields
from inspect import Parameter, Signature, signature
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from airshift.agent.cli import agent_app
from airshift.choices import CutoverPhase, ExportSecrets, ImportSecrets, OnConflict, Unpause
from airshift.cli_options import DagIdOpt, JsonOpt, LastRunsOpt, ReportOpt, SecretsToOpt, SinceOpt
from airshift.code.cli import code_app
from airshift.datapipeline.cli import app as datapipeline_app
from airshift.env.cli import env_app
from airshift.errors import AirshiftError, ExitCode
from airshift.logs.cli import logs_app
from airshift.memory import bound_allocators
from airshift.progress import Log, Progress, null_log
from airshift.report import console
from airshift.runtimes.cli import runtimes_app

if TYPE_CHECKING:
    from airshift.api.reports import Report

app = typer.Typer(
    name="airshift",
    help="Move Apache Airflow deployments to a new environment or version without losing anything.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(logs_app, name="logs")

SourceDbArg = Annotated[str, typer.Argument(help="Source metadata database URL (or SQLite file).")]
TargetDbArg = Annotated[
    str,
    typer.Argument(help="Target metadata database URL (its own `airflow db migrate` made it)."),
]
SourceKeyOpt = Annotated[
    str | None,
    typer.Option(
        envvar="AIRSHIFT_SOURCE_FERNET_KEY",
        help="The source's Fernet key (else AIRFLOW__CORE__FERNET_KEY or airflow.cfg).",
    ),
]
SourceHomeOpt = Annotated[
    str | None, typer.Option(help="The source's AIRFLOW_HOME, to read its airflow.cfg.")
]
TargetHomeOpt = Annotated[
    str | None, typer.Option(help="The target's AIRFLOW_HOME, to read its Fernet key.")
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Tables read and loaded at once (default: the CPU count, at most 4).",
    ),
]
OnlineOpt = Annotated[
    bool,
    typer.Option(
        "--online",
        help="Keep every target table readable during the import: no table is locked, indexes "
        "are kept up to date row by row (slower). By default, on PostgreSQL, a table that gets "
        "more new rows than it holds is loaded with its plain indexes and foreign keys set "
        "aside and rebuilt, and stays locked until the import commits.",
    ),
]


TargetKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--target-fernet-key",
        envvar="AIRSHIFT_TARGET_FERNET_KEY",
        help="The target's Fernet key (else read from --target-airflow-home's airflow.cfg).",
    ),
]
ArchiveKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--archive-key",
        envvar="AIRSHIFT_ARCHIVE_KEY",
        help="The key the archive's secrets are sealed with.",
    ),
]
VenvOpt = Annotated[
    list[str],
    typer.Option(
        "--airflow-venv",
        help="Use an installed Airflow: VERSION=PATH (repeatable; for air-gapped machines).",
    ),
]
OnConflictOpt = Annotated[OnConflict, typer.Option(help="For rows the target already has.")]
UnpauseOpt = Annotated[
    Unpause, typer.Option(help="The imported DAGs' pause state after the import.")
]
ImportSecretsOpt = Annotated[
    ImportSecrets, typer.Option(help="Connections' secrets and variables.")
]
ConvertPickledOpt = Annotated[
    bool,
    typer.Option(
        "--convert-pickled",
        help="Unpickle 2.x pickled XComs into JSON. Unpickling runs code: only for archives you trust.",
    ),
]
ScratchOpt = Annotated[
    str | None,
    typer.Option(
        help="Database for the scratch upgrade (default: a temporary one on the target's server)."
    ),
]

# Option groups that several commands declare alike, written once (see ``_with``).
SOURCE_SIDE: dict[str, tuple[Any, Any]] = {
    "fernet_key": (SourceKeyOpt, None),
    "airflow_home": (SourceHomeOpt, None),
}
TARGET_SIDE: dict[str, tuple[Any, Any]] = {
    "target_fernet_key": (TargetKeyOpt, None),
    "target_airflow_home": (TargetHomeOpt, None),
    "secrets": (ImportSecretsOpt, ImportSecrets.IMPORT),
    "convert_pickled": (ConvertPickledOpt, False),
    "scratch_url": (ScratchOpt, None),
    "airflow_venvs": (VenvOpt, []),
}
LOADING: dict[str, tuple[Any, Any]] = {"jobs": (JobsOpt, None), "online": (OnlineOpt, False)}
T = TypeVar("T")
Command = TypeVar("Command", bound=Callable[..., None])


def _with(*groups: dict[str, tuple[Any, Any]]) -> Callable[[Command], Command]:
    """Give a command the options of ``groups`` (before its last parameter, ``--json``);
    the command takes them as ``**shared``.

    Why: ``import``, ``migrate`` and ``cutover`` take the same dozen options; Typer reads a
    command's options from its signature, so without this each would declare them again."""

    def add(fn: Command) -> Command:
        *head, last, var = signature(fn, eval_str=True).parameters.values()
        assert var.kind is var.VAR_KEYWORD and last.name == "json_out", fn
        shared = [
            Parameter(name, Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=default)
            for group in groups
            for name, (kind, default) in group.items()
        ]
        full = Signature([*head, *shared, last])
        fn.__signature__ = full  # type: ignore[attr-defined]
        fn.__annotations__ = {p.name: p.annotation for p in full.parameters.values()}
        return fn

    return add


def _options(cls: type[T], given: dict[str, Any], **parsed: Any) -> T:
    """``cls`` (an ``airshift.api`` options type) from a command's parameters of the same
    names, and from ``parsed``, the values that needed parsing first."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in given.items() if k in names} | parsed)


def _progress(json_out: bool) -> console.RichProgress:
    """A progress display for a person at a terminal (none for --json or a pipe)."""
    return console.RichProgress(enabled=not json_out and sys.stderr.isatty())


def _log(json_out: bool) -> Log:
    return null_log if json_out else console.stderr_log


def _run(
    call: Callable[[Any, Progress, Log], Report],
    opts: Any,
    json_out: bool,
    report_path: str | None = None,
) -> None:
    """A command's one library call, with a progress display and its log on stderr (neither
    for --json), and the report it returns rendered (``console.emit``)."""
    with _progress(json_out) as bar:
        report = call(opts, bar, _log(json_out))
    console.emit(report, json_out, report_path)


@app.command()
def inspect(
    location: Annotated[
        str, typer.Argument(help="A metadata database URL (or SQLite file), or an archive.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Report what a database or archive holds, and what will not migrate cleanly.

    For an archive, every table file is checked against its SHA-256 checksum; a damaged
    archive exits with code 1.
    """
    from airshift import api

    console.emit(api.inspect(location), json_out)


@app.command()
def export(
    source: SourceDbArg,
    to: Annotated[
        str, typer.Option("--to", help="Archive location: a new folder, file:// or s3:// URL.")
    ],
    dag_ids: DagIdOpt = [],  # noqa: B006
    since: SinceOpt = None,
    last_runs: LastRunsOpt = None,
    include: Annotated[list[str], typer.Option(help="Only these tables (glob; repeatable).")] = [],  # noqa: B006
    exclude: Annotated[
        list[str], typer.Option(help="Leave out these tables (glob; repeatable).")
    ] = [],  # noqa: B006
    fernet_key: SourceKeyOpt = None,
    airflow_home: SourceHomeOpt = None,
    archive_key: Annotated[
        str | None,
        typer.Option(
            envvar="AIRSHIFT_ARCHIVE_KEY",
            help="Key that seals secrets in the archive (generated and printed once if absent).",
        ),
    ] = None,
    secrets: Annotated[
        ExportSecrets, typer.Option(help="Seal secrets with the archive key, or skip them.")
    ] = ExportSecrets.SEAL,
    pause: Annotated[
        bool,
        typer.Option("--pause", help="Pause the exported DAGs during the export; restore after."),
    ] = False,
    jobs: JobsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export a metadata database to a portable, verified archive (at its own schema revision)."""
    from airshift import api
    from airshift.metadata.selection import Selection, parse_since

    selection = Selection(dag_ids, parse_since(since), last_runs, include, exclude)
    opts = _options(api.ExportOptions, locals(), selection=selection)
    with _progress(json_out) as bar:
        report = api.export(opts, bar)
    console.emit(report, json_out)


@app.command("import")
@_with(TARGET_SIDE, LOADING)
def import_(
    archive: Annotated[
        str, typer.Argument(help="Archive made by `airshift export` (or `airshift upgrade`).")
    ],
    target: Annotated[
        str,
        typer.Argument(
            help="Target metadata database URL (created by its own `airflow db migrate`)."
        ),
    ],
    archive_key: ArchiveKeyOpt = None,
    on_conflict: OnConflictOpt = OnConflict.SKIP,
    unpause: UnpauseOpt = Unpause.SOURCE_STATE,
    secrets_to: SecretsToOpt = None,
    link_dag_versions: Annotated[
        bool, typer.Option(help="Link imported task instances to the target's DAG version.")
    ] = True,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Report what would be inserted, skipped and lost; change nothing."
        ),
    ] = False,
    report: ReportOpt = None,
    json_out: JsonOpt = False,
    **shared: Any,
) -> None:
    """Merge an archive's history into a live target, across Airflow versions."""
    from airshift import api

    _run(api.import_, _options(api.ImportOptions, locals() | shared), json_out, report)


@app.command()
def upgrade(
    archive: Annotated[str, typer.Argument(help="Archive to upgrade.")],
    to: Annotated[
        str,
        typer.Option(
            "--to", help="Airflow version whose schema the new archive has (3, 3.3, 3.3.2, latest)."
        ),
    ],
    out: Annotated[str, typer.Option("--out", help="Location of the new archive.")],
    archive_key: ArchiveKeyOpt = None,
    convert_pickled: ConvertPickledOpt = False,
    scratch_url: Annotated[
        str | None,
        typer.Option(help="Database for the scratch upgrade (default: SQLite in a temp folder)."),
    ] = None,
    airflow_venvs: VenvOpt = [],  # noqa: B006
    jobs: JobsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Upgrade an archive to a newer Airflow schema with Airflow's own migrations.

    An upgraded archive can be imported many times into targets of that version.
    """
    from airshift import api

    _run(api.upgrade, _options(api.UpgradeOptions, locals()), json_out)


@app.command()
@_with(SOURCE_SIDE, TARGET_SIDE, LOADING)
def migrate(
    source: SourceDbArg,
    target: TargetDbArg,
    archive: Annotated[
        str | None,
        typer.Option(help="Keep the intermediate archive here (default: a temp folder)."),
    ] = None,
    dag_ids: DagIdOpt = [],  # noqa: B006
    since: SinceOpt = None,
    last_runs: LastRunsOpt = None,
    secrets_to: SecretsToOpt = None,
    pause: Annotated[bool, typer.Option(help="Pause the source's DAGs while exporting.")] = True,
    on_conflict: OnConflictOpt = OnConflict.SKIP,
    unpause: UnpauseOpt = Unpause.SOURCE_STATE,
    logs: Annotated[
        str | None,
        typer.Option(
            "--logs",
            help="Also copy task logs: SOURCE_LOGS=TARGET_LOGS (folders, s3:// or cloudwatch://).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Export and upgrade, then report what the import would do."),
    ] = False,
    report: ReportOpt = None,
    json_out: JsonOpt = False,
    **shared: Any,
) -> None:
    """The whole path in one command: inspect both sides, export, upgrade, import, verify.

    SOURCE and TARGET may also be environments with the airshift agent (http(s)://HOST or
    mwaa://NAME; no database URL): that is `airshift agent migrate`, whose --help has its
    options (--archive s3://..., --source-token, --target-token, ...)."""
    from airshift import api
    from airshift.logs.stage import parse_spec
    from airshift.metadata.selection import parse_since

    parsed_logs = parse_spec(logs) if logs else None
    given = locals() | shared
    opts = _options(api.MigrateOptions, given, since=parse_since(since), logs=parsed_logs)
    _run(api.migrate, opts, json_out, report)


@app.command()
@_with(SOURCE_SIDE, TARGET_SIDE, LOADING)
def cutover(
    source: SourceDbArg,
    target: TargetDbArg,
    archive: Annotated[
        str | None,
        typer.Option(help="Keep the bulk and delta archives here (default: a temp folder)."),
    ] = None,
    on_conflict: Annotated[
        OnConflict, typer.Option(help="The bulk phase's choice for rows the target already has.")
    ] = OnConflict.NEWER,
    state_file: Annotated[
        str | None,
        typer.Option(help="The cutover's state file (default: one per source and target pair)."),
    ] = None,
    stop_after: Annotated[
        CutoverPhase | None, typer.Option(help="Stop once this phase is done; run again to resume.")
    ] = None,
    drain_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the source's executing tasks.")
    ] = 600.0,
    force: Annotated[
        bool, typer.Option("--force", help="After the drain timeout, move tasks as they are.")
    ] = False,
    allow_catchup: Annotated[
        bool,
        typer.Option(
            "--allow-catchup",
            help="Also unpause catchup DAGs whose scheduler would create past runs.",
        ),
    ] = False,
    rollback: Annotated[
        bool,
        typer.Option(
            "--rollback", help="Pause the DAGs on the target and give the source its prior states."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", "--plan", help="Say what each phase would do; change nothing."),
    ] = False,
    report: ReportOpt = None,
    json_out: JsonOpt = False,
    **shared: Any,
) -> None:
    """Move a live environment with minutes of downtime: bulk copy while it runs, pause its
    DAGs, drain, copy what changed (the newer row wins), verify, unpause the same DAGs on
    the target (catchup DAGs that would create past runs are held). Resumable."""
    from airshift import api

    _run(api.cutover, _options(api.CutoverOptions, locals() | shared), json_out, report)


@app.command()
def verify(
    source: Annotated[
        str, typer.Argument(help="The archive (or the source database) the target was filled from.")
    ],
    target: Annotated[str, typer.Argument(help="Target metadata database URL.")],
    archive_key: ArchiveKeyOpt = None,
    target_fernet_key: TargetKeyOpt = None,
    fernet_key: SourceKeyOpt = None,
    scratch_url: ScratchOpt = None,
    airflow_venvs: VenvOpt = [],  # noqa: B006
    json_out: JsonOpt = False,
) -> None:
    """Reconcile a target with its source: every archived row present and equal, per table.

    Exits 1 when rows are missing or differ (beyond the columns the target owns).
    """
    from airshift import api

    opts = _options(api.VerifyOptions, locals())
    console.emit(api.verify(opts, log=_log(json_out)), json_out)


app.add_typer(datapipeline_app, name="datapipeline")
app.add_typer(code_app, name="code")
app.add_typer(runtimes_app, name="runtimes")
app.add_typer(env_app, name="env")
app.add_typer(agent_app, name="agent")


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (a `kill`, a container stopping) unwinds like Ctrl-C: the merge's transaction
    rolls back, the scratch database is dropped and pause states are restored, instead of
    the process vanishing and leaving them behind."""
    raise KeyboardInterrupt


def _through_agents(argv: list[str]) -> list[str]:
    """``migrate ENV ENV ...`` with environments instead of database URLs is ``agent
    migrate``: the command a user of Amazon MWAA reaches for first works there too."""
    positional = [a for a in argv[1:] if not a.startswith("-")]
    environment = ("http://", "https://", "mwaa://")
    if argv[:1] == ["migrate"] and positional and positional[0].startswith(environment):
        return ["agent", *argv]
    return argv


def main() -> None:
    """The command (entered through ``airshift.__main__``, which sets what must precede
    pyarrow): the process-wide settings first (allocators, SIGTERM; see ``airshift.api``),
    then the command; every AirshiftError becomes a message and an exit code."""
    bound_allocators()
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app(args=_through_agents(sys.argv[1:]))
    except AirshiftError as exc:
        console.err.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        if "--json" in sys.argv[1:]:  # a program reading stdout gets an object, not nothing
            kind = type(exc).__name__
            console.print_json({"error": exc.message, "kind": kind, "exit_code": exc.exit_code})
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.err.print("[bold red]interrupted[/]")
        sys.exit(ExitCode.INTERRUPTED)
