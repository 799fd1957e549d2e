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
