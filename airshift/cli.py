"""The ``airshift`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sys
import tempfile
from typing import Annotated

import typer
from rich.markup import escape

from airshift.agent.cli import agent_app
from airshift.code.cli import code_app
from airshift.datapipeline.cli import app as datapipeline_app
from airshift.env.cli import env_app
from airshift.errors import AirshiftError, ExitCode
from airshift.logs.cli import logs_app
from airshift.report import console
from airshift.runtimes.cli import runtimes_app

app = typer.Typer(
    name="airshift",
    help="Move Apache Airflow deployments to a new environment or version without losing anything.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(logs_app, name="logs")

DagIdOpt = Annotated[
    list[str], typer.Option("--dag-id", help="Only these DAGs (glob; repeatable).")
]
SinceOpt = Annotated[str | None, typer.Option(help="Only runs dated on or after this ISO date.")]
LastRunsOpt = Annotated[
    int | None, typer.Option("--last-runs", min=1, help="Only the newest N runs per DAG.")
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
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


def _jobs(jobs: int | None) -> int:
    return jobs or min(4, os.cpu_count() or 1)


def _date(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise AirshiftError(
            f"--since takes an ISO date such as 2024-01-31, not {value!r}."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


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
    from airshift.archive.reader import ArchiveReader, is_archive
    from airshift.metadata.inspect import inspect_archive, inspect_database
    from airshift.metadata.source import AirflowDB

    if is_archive(location):
        data = inspect_archive(ArchiveReader(location))
    else:
        source = AirflowDB.open(location)
        try:
            data = inspect_database(source)
        finally:
            source.dispose()
    console.print_json(data) if json_out else console.render_inspect(data)
    if data.get("problems"):
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def export(
    source: Annotated[str, typer.Argument(help="Source metadata database URL (or SQLite file).")],
    to: Annotated[
        str, typer.Option("--to", help="Archive location: a new folder, file:// or s3:// URL.")
    ],
    dag_id: DagIdOpt = [],  # noqa: B006
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
        str, typer.Option(help="'seal' (default) or 'skip' to leave secrets out.")
    ] = "seal",
    pause: Annotated[
        bool,
        typer.Option("--pause", help="Pause the exported DAGs during the export; restore after."),
    ] = False,
    jobs: JobsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export a metadata database to a portable, verified archive (at its own schema revision)."""
    from airshift.archive import secrets as sec
    from airshift.metadata.extract import ExportOptions
    from airshift.metadata.extract import export as run_export
    from airshift.metadata.selection import Selection
    from airshift.metadata.source import AirflowDB

    src = AirflowDB.open(source)
    opts = ExportOptions(
        archive_url=to,
        selection=Selection(dag_id, _date(since), last_runs, include, exclude),
        fernet_key=sec.airflow_fernet_key(fernet_key, airflow_home),
        archive_key=archive_key,
        secrets=secrets,
        pause=pause,
        jobs=_jobs(jobs),
    )
    try:
        with console.progress(enabled=not json_out and sys.stderr.isatty()) as bar:
            result = run_export(src, opts, bar)
    finally:
        src.dispose()
    m = result.manifest
    summary = {
        "archive": result.archive_url,
        "source": m.source,
        "tables": {n: t.rows for n, t in sorted(m.tables.items())},
        "rows": sum(t.rows for t in m.tables.values()),
        "skipped_tables": m.skipped_tables,
        "secrets": m.secrets["mode"],
    }
    if json_out:
        console.print_json(summary | {"generated_archive_key": result.generated_key})
        return
    console.out.print(
        f"[green]exported[/] {summary['rows']} rows from {len(m.tables)} tables of {m.source['airflow_version']} to {result.archive_url}"
    )
    if result.generated_key:
        console.err.print(
            "[bold yellow]archive key (shown once; keep it safe, it is needed to import secrets):[/]\n"
            f"{result.generated_key}"
        )


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
ReportOpt = Annotated[
    str | None, typer.Option(help="Also write the full report as JSON to this file.")
]
VenvOpt = Annotated[
    list[str],
    typer.Option(
        "--airflow-venv",
        help="Use an installed Airflow: VERSION=PATH (repeatable; for air-gapped machines).",
    ),
]


def _use_venvs(specs: list[str]) -> None:
    from airshift import airflow_env

    for spec in specs:
        airflow_env.register_venv(spec)


def _import_options(**kw):
    from airshift.archive import secrets as sec
    from airshift.metadata.importer import ImportOptions

    if kw.get("unpause") not in ("source-state", "keep-paused"):
        raise AirshiftError("--unpause takes source-state or keep-paused.")
    home = kw.pop("target_airflow_home")
    kw["target_fernet_key"] = kw["target_fernet_key"] or (
        sec.airflow_fernet_key(None, home) if home else None
    )
    if kw.pop("secrets") == "skip":
        kw["skip_secrets"] = True
    return ImportOptions(**kw)


@app.command("import")
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
    target_fernet_key: TargetKeyOpt = None,
    target_airflow_home: TargetHomeOpt = None,
    on_conflict: Annotated[
        str,
        typer.Option(help="skip (default), overwrite or fail, for rows the target already has."),
    ] = "skip",
    unpause: Annotated[
        str, typer.Option(help="After the import: source-state (default) or keep-paused.")
    ] = "source-state",
    secrets: Annotated[
        str, typer.Option(help="'import' (default) or 'skip' connections' secrets and variables.")
    ] = "import",
    convert_pickled: Annotated[
        bool,
        typer.Option(
            "--convert-pickled",
            help="Unpickle 2.x pickled XComs into JSON. Unpickling runs code: only for archives you trust.",
        ),
    ] = False,
    link_dag_versions: Annotated[
        bool, typer.Option(help="Link imported task instances to the target's DAG version.")
    ] = True,
    scratch_url: Annotated[
        str | None,
        typer.Option(
            help="Database for the scratch upgrade (default: a temporary one on the target's server)."
        ),
    ] = None,
    airflow_venv: VenvOpt = [],  # noqa: B006
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Report what would be inserted, skipped and lost; change nothing."
        ),
    ] = False,
    report: ReportOpt = None,
    jobs: JobsOpt = None,
    online: OnlineOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Merge an archive's history into a live target, across Airflow versions."""
    from airshift.archive import ArchiveReader
    from airshift.metadata.importer import import_archive
    from airshift.metadata.source import AirflowDB

    _use_venvs(airflow_venv)
    opts = _import_options(
        archive_key=archive_key,
        target_fernet_key=target_fernet_key,
        target_airflow_home=target_airflow_home,
        on_conflict=on_conflict,
        unpause=unpause,
        secrets=secrets,
        convert_pickled=convert_pickled,
        link_dag_versions=link_dag_versions,
        scratch_url=scratch_url,
        dry_run=dry_run,
        jobs=_jobs(jobs),
        online=online,
    )
    reader = ArchiveReader(archive)
    tgt = AirflowDB.open(target)
    try:
        with console.progress(enabled=not json_out and sys.stderr.isatty()) as bar:
            result = import_archive(reader, tgt, opts, bar, log=_logger(json_out))
    finally:
        tgt.dispose()
    data = result.as_dict()
    if report:
        console.write_json(report, data)
    if json_out:
        console.print_json(data)
    else:
        console.render_import(data)
    if result.merge and any(t.differing for t in result.merge.tables.values()):
        raise typer.Exit(ExitCode.FAILED)


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
    convert_pickled: Annotated[
        bool,
        typer.Option("--convert-pickled", help="Unpickle 2.x pickled XComs into JSON (runs code)."),
    ] = False,
    scratch_url: Annotated[
        str | None,
        typer.Option(help="Database for the scratch upgrade (default: SQLite in a temp folder)."),
    ] = None,
    airflow_venv: VenvOpt = [],  # noqa: B006
    jobs: JobsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Upgrade an archive to a newer Airflow schema with Airflow's own migrations.

    An upgraded archive can be imported many times into targets of that version.
    """
    from airshift import versions
    from airshift.archive import ArchiveReader
    from airshift.metadata.importer import ImportOptions, upgrade_archive

    _use_venvs(airflow_venv)
    release = versions.resolve_release(to)
    opts = ImportOptions(
        archive_key=archive_key,
        scratch_url=scratch_url,
        convert_pickled=convert_pickled,
        jobs=_jobs(jobs),
    )
    with console.progress(enabled=not json_out and sys.stderr.isatty()) as bar:
        report, manifest = upgrade_archive(
            ArchiveReader(archive), release, out, opts, bar, log=_logger(json_out)
        )
    data = report.as_dict() | {
        "archive": out,
        "tables": {n: t.rows for n, t in manifest.tables.items()},
    }
    if json_out:
        console.print_json(data)
        return
    console.out.print(
        f"[green]upgraded[/] {archive} ({report.source_revision}) to Airflow {release} ({report.target_revision}): {out}"
    )
    console.render_losses(data)


@app.command()
def migrate(
    source: Annotated[str, typer.Argument(help="Source metadata database URL (or SQLite file).")],
    target: Annotated[
        str,
        typer.Argument(help="Target metadata database URL (its own `airflow db migrate` made it)."),
    ],
    archive: Annotated[
        str | None,
        typer.Option(help="Keep the intermediate archive here (default: a temp folder)."),
    ] = None,
    dag_id: DagIdOpt = [],  # noqa: B006
    since: SinceOpt = None,
    last_runs: LastRunsOpt = None,
    fernet_key: SourceKeyOpt = None,
    airflow_home: SourceHomeOpt = None,
    target_fernet_key: TargetKeyOpt = None,
    target_airflow_home: TargetHomeOpt = None,
    secrets: Annotated[str, typer.Option(help="'import' (default) or 'skip'.")] = "import",
    pause: Annotated[bool, typer.Option(help="Pause the source's DAGs while exporting.")] = True,
    on_conflict: Annotated[str, typer.Option(help="skip (default), overwrite or fail.")] = "skip",
    unpause: Annotated[
        str, typer.Option(help="source-state (default) or keep-paused.")
    ] = "source-state",
    convert_pickled: Annotated[
        bool,
        typer.Option("--convert-pickled", help="Unpickle 2.x pickled XComs into JSON (runs code)."),
    ] = False,
    scratch_url: Annotated[
        str | None, typer.Option(help="Database for the scratch upgrade.")
    ] = None,
    airflow_venv: VenvOpt = [],  # noqa: B006
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
    jobs: JobsOpt = None,
    online: OnlineOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """The whole path in one command: inspect both sides, export, upgrade, import, verify."""
    from airshift.archive import ArchiveReader
    from airshift.archive import secrets as sec
    from airshift.metadata.extract import ExportOptions, export
    from airshift.metadata.importer import import_archive
    from airshift.metadata.selection import Selection
    from airshift.metadata.source import AirflowDB

    _use_venvs(airflow_venv)
    src, tgt = AirflowDB.open(source), AirflowDB.open(target)
    log = _logger(json_out)
    log(
        f"source: {src.safe_url} ({src.revision.label}); target: {tgt.safe_url} ({tgt.revision.label})"
    )
    key = sec.new_key()
    with contextlib.ExitStack() as stack:
        where = (
            archive
            or f"{stack.enter_context(tempfile.TemporaryDirectory(prefix='airshift-'))}/archive"
        )
        bar = stack.enter_context(console.progress(enabled=not json_out and sys.stderr.isatty()))
        stack.callback(src.dispose)
        stack.callback(tgt.dispose)
        opts = _import_options(
            archive_key=key,
            target_fernet_key=target_fernet_key,
            target_airflow_home=target_airflow_home,
            on_conflict=on_conflict,
            unpause=unpause,
            secrets=secrets,
            convert_pickled=convert_pickled,
            scratch_url=scratch_url,
            dry_run=dry_run,
            jobs=_jobs(jobs),
            online=online,
        )
        from airshift.metadata.importer import check_direction, check_mergeable

        check_direction(src.revision.revision, tgt.revision.revision)
        check_mergeable(tgt.revision.revision)
        export(
            src,
            ExportOptions(
                archive_url=where,
                selection=Selection(dag_id, _date(since), last_runs),
                fernet_key=sec.airflow_fernet_key(fernet_key, airflow_home),
                archive_key=key,
                secrets="skip" if secrets == "skip" else "seal",
                pause=pause and not dry_run,
                jobs=opts.jobs,
            ),
            bar,
        )
        log(f"exported to {where}")
        result = import_archive(ArchiveReader(where), tgt, opts, bar, log=log)
        log_report = None
        if logs and not dry_run:
            from airshift.logs.stage import copy_archived_logs, parse_spec

            log(f"copying task logs {logs}")
            log_report = copy_archived_logs(
                where, *parse_spec(logs), target_major=tgt.revision.major
            )
    data = result.as_dict() | {
        "archive": archive,
        "logs": log_report.to_dict() if log_report else None,
    }
    if archive:
        data["archive_key"] = "printed once on stderr"
        console.err.print(f"[bold yellow]archive key (shown once):[/]\n{key}")
    if report:
        console.write_json(report, data)
    if json_out:
        console.print_json(data)
    else:
        console.render_import(data)
    if log_report is not None and not log_report.ok:
        console.err.print("[red]some task logs could not be copied[/] (see the report)")
        raise typer.Exit(ExitCode.FAILED)
    if result.merge and any(t.differing for t in result.merge.tables.values()):
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def verify(
    source: Annotated[
        str, typer.Argument(help="The archive (or the source database) the target was filled from.")
    ],
    target: Annotated[str, typer.Argument(help="Target metadata database URL.")],
    archive_key: ArchiveKeyOpt = None,
    target_fernet_key: TargetKeyOpt = None,
    fernet_key: SourceKeyOpt = None,
    scratch_url: Annotated[
        str | None, typer.Option(help="Database for the scratch upgrade.")
    ] = None,
    airflow_venv: VenvOpt = [],  # noqa: B006
    json_out: JsonOpt = False,
) -> None:
    """Reconcile a target with its source: every archived row present and equal, per table.

    Exits 1 when rows are missing or differ (beyond the columns the target owns).
    """
    from airshift.metadata.importer import ImportOptions, import_archive
    from airshift.metadata.source import AirflowDB

    _use_venvs(airflow_venv)
    with _as_archive(source, fernet_key, archive_key) as (reader, key):
        tgt = AirflowDB.open(target)
        try:
            opts = ImportOptions(
                archive_key=key,
                target_fernet_key=target_fernet_key,
                scratch_url=scratch_url,
                skip_secrets=not (key and target_fernet_key),
            )
            result = import_archive(reader, tgt, opts, log=_logger(json_out), verify_only=True)
        finally:
            tgt.dispose()
    data = result.as_dict()
    bad = {n: t for n, t in data["merge"]["tables"].items() if t["inserted"] or t["differing"]}
    if json_out:
        console.print_json(data | {"ok": not bad})
    else:
        console.render_verify(data)
    if bad:
        raise typer.Exit(ExitCode.FAILED)


def _logger(quiet: bool):
    return (lambda m: None) if quiet else (lambda m: console.err.print(f"[dim]{m}[/]"))


@contextlib.contextmanager
def _as_archive(location: str, fernet_key: str | None, archive_key: str | None):
    """An archive for ``location``: opened as is, or exported first from a database."""
    from airshift.archive import ArchiveReader
    from airshift.archive import secrets as sec
    from airshift.archive.reader import is_archive
    from airshift.metadata.extract import ExportOptions, export
    from airshift.metadata.source import AirflowDB

    if is_archive(location):
        yield ArchiveReader(location), archive_key
        return
    with tempfile.TemporaryDirectory(prefix="airshift-archive-") as tmp:
        src = AirflowDB.open(location)
        key = sec.new_key()
        try:
            export(
                src,
                ExportOptions(
                    archive_url=f"{tmp}/archive",
                    fernet_key=sec.airflow_fernet_key(fernet_key),
                    archive_key=key,
                ),
            )
        finally:
            src.dispose()
        yield ArchiveReader(f"{tmp}/archive"), key


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


def main() -> None:
    """Console-script entry point: every AirshiftError becomes a message and an exit code."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except AirshiftError as exc:
        console.err.print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.err.print("[bold red]interrupted[/]")
        sys.exit(ExitCode.INTERRUPTED)
