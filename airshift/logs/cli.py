"""``airshift logs``: the command line over ``airshift.api.logs_copy``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from airshift.logs.naming import LAYOUTS, RECORDED

logs_app = typer.Typer(help="Copy task logs so old runs keep their logs.", no_args_is_help=True)

_TEMPLATE_HELP = (
    f"'{RECORDED}' (each run's log_template row), a layout ({', '.join(LAYOUTS)}) "
    "or a literal log_filename_template."
)


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
    from airshift import api
    from airshift.report import console

    opts = api.LogsCopyOptions(
        source_logs=source_logs,
        target_logs=target_logs,
        metadata=metadata,
        source_template=source_template,
        target_template=target_template,
        source_config=source_config,
        target_airflow=target_airflow,
        states=state or [],
        since=since,
        days=days,
        dag_ids=dag_id or [],
        last_runs=last_runs,
        dry_run=dry_run,
        jobs=jobs,
        overwrite=overwrite,
    )
    with console.RichProgress(enabled=not as_json and console.err.is_terminal) as progress:
        report = api.logs_copy(opts, progress)
    console.emit(report, as_json)
