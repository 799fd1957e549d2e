"""``airshift datapipeline convert``: a thin command over ``convert_file``/``convert_folder``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from airshift.datapipeline.convert import convert_file, convert_folder, write_result
from airshift.datapipeline.report import ConversionResult
from airshift.errors import AirshiftError, ExitCode

app = typer.Typer(
    help="Convert AWS Data Pipeline definitions into Airflow 3 DAGs.", no_args_is_help=True
)


def _activation(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError as exc:
        raise AirshiftError(f"--activation-date {text!r} is not an ISO date (YYYY-MM-DD).") from exc


@app.command()
def convert(
    path: Annotated[Path, typer.Argument(help="A definition file, or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for DAG files and reports.")] = Path(
        "dags"
    ),
    values: Annotated[
        Path | None, typer.Option("--values", help="Parameter values (overrides defaults).")
    ] = None,
    parameters: Annotated[
        Path | None, typer.Option("--parameters", help="Parameter objects kept in another file.")
    ] = None,
    catchup: Annotated[
        bool, typer.Option("--catchup", help="Replay missed intervals, as DP backfills.")
    ] = False,
    activation_date: Annotated[
        str | None,
        typer.Option(
            "--activation-date",
            help="Date standing for FIRST_ACTIVATION_DATE_TIME (default: today, UTC).",
        ),
    ] = None,
    ec2: Annotated[
        str,
        typer.Option(
            "--ec2",
            help="Ec2Resource strategy: 'local' runs shell activities on Airflow workers, "
            "'ssm' launches the instance and runs them there through SSM.",
        ),
    ] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Convert definitions into DAG files plus a conversion report per pipeline."""
    when = _activation(activation_date)
    if not path.exists():
        raise AirshiftError(f"{path}: no such file or folder.")
    if path.is_dir():
        results, failures, skipped = convert_folder(
            path,
            values=values,
            parameters=parameters,
            catchup=catchup,
            activation=when,
            ec2_strategy=ec2,
        )
    else:
        results = [
            convert_file(
                path,
                values=values,
                parameters=parameters,
                catchup=catchup,
                activation=when,
                ec2_strategy=ec2,
            )
        ]
        failures, skipped = [], []
    for result in results:
        write_result(result, out)
    if as_json:
        payload = {
            "results": [r.to_json() for r in results],
            "failures": [{"file": str(p), "error": m} for p, m in failures],
            "skipped": [str(p) for p in skipped],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _summary(results, failures, skipped, out)
    if failures:
        raise typer.Exit(ExitCode.FAILED)


def _summary(
    results: list[ConversionResult],
    failures: list[tuple[Path, str]],
    skipped: list[Path],
    out: Path,
) -> None:
    console = Console()
    table = Table(title=f"AWS Data Pipeline -> Airflow DAGs in {out}")
    for column in ("definition", "DAG", "schedule", "tasks", "TODOs"):
        table.add_column(column, overflow="fold")
    for result in results:
        for dag in result.dags:
            table.add_row(
                result.source,
                dag.filename,
                dag.plan.schedule.summary,
                str(len(dag.plan.tasks)),
                str(len(result.todos)),
            )
    console.print(table)
    for path, message in failures:
        console.print(f"[bold red]failed[/] {path}: {message}", highlight=False)
    for path in skipped:
        console.print(f"[dim]skipped {path}: no pipeline objects[/]", highlight=False)
