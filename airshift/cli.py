"""The ``airshift`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated

import typer

from airshift.errors import AirshiftError, ExitCode
from airshift.report import console

app = typer.Typer(
    name="airshift",
    help="Move Apache Airflow deployments to a new environment or version without losing anything.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


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
    dag_id: Annotated[
        list[str], typer.Option("--dag-id", help="Only these DAGs (glob; repeatable).")
    ] = [],  # noqa: B006
    since: Annotated[
        str | None, typer.Option(help="Only runs dated on or after this ISO date.")
    ] = None,
    last_runs: Annotated[
        int | None, typer.Option("--last-runs", min=1, help="Only the newest N runs per DAG.")
    ] = None,
    include: Annotated[list[str], typer.Option(help="Only these tables (glob; repeatable).")] = [],  # noqa: B006
    exclude: Annotated[
        list[str], typer.Option(help="Leave out these tables (glob; repeatable).")
    ] = [],  # noqa: B006
    fernet_key: Annotated[
        str | None,
        typer.Option(
            envvar="AIRSHIFT_SOURCE_FERNET_KEY",
            help="The source's Fernet key (else AIRFLOW__CORE__FERNET_KEY or airflow.cfg).",
        ),
    ] = None,
    airflow_home: Annotated[
        str | None, typer.Option(help="The source's AIRFLOW_HOME, to read its airflow.cfg.")
    ] = None,
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
VenvOpt = Annotated[
    list[str],
    typer.Option(
        "--airflow-venv",
        help="Use an installed Airflow: VERSION=PATH (repeatable; for air-gapped machines).",
    ),
]


def _import_options(**kw):
    from airshift.archive import secrets as sec
    from airshift.metadata.importer import ImportOptions

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
    target_airflow_home: Annotated[
        str | None, typer.Option(help="The target's AIRFLOW_HOME, to read its Fernet key.")
    ] = None,
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
    verify: Annotated[
        bool, typer.Option(help="Reconcile the target with the archive afterwards.")
    ] = True,
    report: Annotated[
        str | None, typer.Option(help="Also write the full report as JSON to this file.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Merge an archive's history into a live target, across Airflow versions."""
    from airshift import airflow_env
    from airshift.archive import ArchiveReader
    from airshift.metadata.importer import import_archive
    from airshift.metadata.source import AirflowDB

    for spec in airflow_venv:
        airflow_env.register_venv(spec)
    if unpause not in ("source-state", "keep-paused"):
        raise AirshiftError("--unpause takes source-state or keep-paused.")
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
    )
    reader = ArchiveReader(archive)
    tgt = AirflowDB.open(target)
    log = (lambda m: None) if json_out else (lambda m: console.err.print(f"[dim]{m}[/]"))
    try:
        with console.progress(enabled=not json_out and sys.stderr.isatty()) as bar:
            result = import_archive(reader, tgt, opts, bar, log=log)
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


def main() -> None:
    """Console-script entry point: every AirshiftError becomes a message and an exit code."""
    try:
        app()
    except AirshiftError as exc:
        console.err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.err.print("[bold red]interrupted[/]")
        sys.exit(ExitCode.INTERRUPTED)
