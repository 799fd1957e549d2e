"""``airshift logs``: the command line over :func:`airshift.logs.copy_logs`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from airshift.errors import AirshiftError, ExitCode
from airshift.logs.copy import CopyOptions, CopyReport, FileResult, Status, copy_logs
from airshift.logs.index import IndexFilter, TaskTry, airflow_major, iter_tries
from airshift.logs.naming import LAYOUTS, RECORDED, Naming, resolve_template, template_from_config
from airshift.logs.tables import open_tables
from airshift.report import console

logs_app = typer.Typer(help="Copy task logs so old runs keep their logs.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

_TEMPLATE_HELP = (
    f"'{RECORDED}' (each run's log_template row), a layout ({', '.join(LAYOUTS)}) "
    "or a literal log_filename_template."
)


def _naming(choice: str, major: int, fallback: str) -> Naming:
    template = None if choice == RECORDED else resolve_template(choice)
    return Naming(airflow_major=major, template=template, fallback=fallback)


def _summary(report: CopyReport) -> None:
    table = Table(title="dry run: nothing was written" if report.dry_run else "logs copy")
    table.add_column("status")
    table.add_column("files", justify="right")
    for status, count in sorted(report.counts.items()):
        table.add_row(status, str(count))
    table.add_row("bytes", f"{report.bytes:,}")
    if report.unrecorded_found:
        table.add_row("of which tries no metadata row names", str(report.unrecorded_found))
    out.print(table)


def _listing(report: CopyReport) -> None:
    for r in report.results:
        if r.status in (Status.WOULD_COPY, Status.PRESENT):
            line = f"{r.status.value:>10} {r.bytes:>12,}  {r.source} -> {r.target}"
            out.print(line, highlight=False, soft_wrap=True)


def _failures(report: CopyReport) -> None:
    for r in report.failures:
        where = f" ({r.source} -> {r.target})" if r.source else ""
        line = f"[red]{r.status.value}[/] {r.task_try}{where}: {r.message}"
        err.print(line, highlight=False, soft_wrap=True)


@logs_app.command("copy")
def copy_command(
    source_logs: Annotated[str, typer.Argument(help="Folder, s3://… URL or cloudwatch://GROUP.")],
    target_logs: Annotated[str, typer.Argument(help="Folder, s3://… URL or cloudwatch://GROUP.")],
    metadata: Annotated[
        str,
        typer.Option(
            help="Source metadata, the index of task tries: an archive, a database URL or SQLite file."
        ),
    ],
    source_template: Annotated[str, typer.Option(help=_TEMPLATE_HELP)] = RECORDED,
    target_template: Annotated[str, typer.Option(help=_TEMPLATE_HELP)] = RECORDED,
    source_config: Annotated[
        str | None,
        typer.Option(help="Source airflow.cfg: its template names runs that record none."),
    ] = None,
    target_airflow: Annotated[
        int, typer.Option(help="Major version of the target Airflow (its naming rules).")
    ] = 3,
    state: Annotated[
        list[str] | None, typer.Option(help="Only tries in this state (repeatable).")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only tries started at or after this (UTC).")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Only tries of the last N days.")] = None,
    dag_id: Annotated[list[str] | None, typer.Option(help="Only this DAG (repeatable).")] = None,
    last_runs: Annotated[int | None, typer.Option(help="Only the N latest runs per DAG.")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="List what would be copied; write nothing.")
    ] = False,
    jobs: Annotated[int, typer.Option(min=1, max=64, help="Parallel transfers.")] = 4,
    overwrite: Annotated[bool, typer.Option(help="Replace target logs that differ.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Copy the log of every task try the metadata knows, translating the naming."""
    tables = open_tables(metadata)
    fallback = template_from_config(source_config) if source_config else LAYOUTS["airflow-1.10"]
    flt = IndexFilter.build(state or (), dag_id or (), since, days, last_runs)
    tries = list(iter_tries(tables, flt))
    if not tries:
        raise AirshiftError("No task tries in the metadata match the filters.", ExitCode.FAILED)
    options = CopyOptions(
        source_naming=_naming(source_template, airflow_major(tables), fallback),
        target_naming=_naming(target_template, target_airflow, fallback),
        jobs=jobs,
        overwrite=overwrite,
        dry_run=dry_run,
    )
    if as_json:
        report = copy_logs(tries, source_logs, target_logs, options)
        console.print_json(report.to_dict())
    else:
        report = _with_progress(tries, source_logs, target_logs, options)
        if dry_run:
            _listing(report)
        _failures(report)
        _summary(report)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILED)


def _with_progress(
    tries: list[TaskTry], source_logs: str, target_logs: str, options: CopyOptions
) -> CopyReport:
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TextColumn("{task.fields[moved]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as progress:
        task = progress.add_task("copying logs", total=len(tries), moved=decimal(0))
        total = 0

        def advance(result: FileResult) -> None:
            nonlocal total
            total += result.bytes
            progress.update(task, advance=1, moved=decimal(total))

        options.on_result = advance
        return copy_logs(tries, source_logs, target_logs, options)
