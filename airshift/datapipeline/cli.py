"""``airshift datapipeline convert``: a thin command over the library's convert functions."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from airshift.datapipeline import account
from airshift.datapipeline.convert import (
    check_results,
    convert_account,
    convert_file,
    convert_folder,
    write_result,
)
from airshift.datapipeline.report import ConversionResult, PipelineOutcome, Summary
from airshift.datapipeline.verify import DEFAULT_AIRFLOW, AirflowCheck, Mode
from airshift.errors import AirshiftError, ExitCode

app = typer.Typer(
    help="Convert AWS Data Pipeline definitions into Airflow 3 DAGs.", no_args_is_help=True
)
SUMMARY = "datapipeline-summary"


def _activation(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError as exc:
        raise AirshiftError(f"--activation-date {text!r} is not an ISO date (YYYY-MM-DD).") from exc


@app.command()
def convert(
    source: Annotated[
        str,
        typer.Argument(
            help="A definition file, a folder of them, datapipeline://PIPELINE_ID, or "
            "datapipeline:// for every pipeline of the account's region.",
            metavar="SOURCE",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for DAG files and reports.")] = Path(
        "dags"
    ),
    values: Annotated[
        Path | None, typer.Option("--values", help="Parameter values (overrides defaults).")
    ] = None,
    parameters: Annotated[
        Path | None, typer.Option("--parameters", help="Parameter objects kept in another file.")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="AWS region for datapipeline:// (default: from AWS config)."),
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
    check: Annotated[
        str,
        typer.Option(
            "--check",
            help="Check the DAGs with a real Airflow: 'import' (a DagBag loads them) or 'run' "
            "(also one `airflow dags test` run each; runs the tasks for real against the AWS "
            "endpoint of the environment). The report says which was done.",
        ),
    ] = "none",
    airflow_version: Annotated[
        str, typer.Option("--airflow-version", help="Airflow release used by --check.")
    ] = DEFAULT_AIRFLOW,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Convert definitions into DAG files plus a conversion report per pipeline.

    Exit codes: 0 converted (TODOs may remain), 1 some pipeline did not convert or a
    check failed, 2 bad input or AWS unreachable.
    """
    if check not in ("none", "import", "run"):
        raise AirshiftError(f"--check {check!r}: use none, import or run.")
    when = _activation(activation_date)
    options = {"catchup": catchup, "activation": when, "ec2_strategy": ec2}
    pipeline_id = account.pipeline_id_of(source)
    if pipeline_id is not None:
        outcomes = _from_account(pipeline_id, region, options, quiet=as_json)
        title = f"AWS Data Pipeline {source} ({region or 'default region'}) -> Airflow DAGs"
    else:
        path = Path(source)
        if not path.exists():
            raise AirshiftError(f"{path}: no such file or folder.")
        outcomes = _from_files(path, values, parameters, options)
        title = f"AWS Data Pipeline definitions in {path} -> Airflow DAGs"
    results = [o.result for o in outcomes if o.result is not None]
    for result in results:
        write_result(result, out)
    _check(results, out, check, airflow_version, when)  # type: ignore[arg-type]
    for result in results:  # the reports again, now saying how far each DAG was checked
        write_result(result, out)
    summary = Summary(title, outcomes)
    if pipeline_id is not None or len(outcomes) > 1:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{SUMMARY}.md").write_text(summary.to_markdown(), encoding="utf-8")
        (out / f"{SUMMARY}.json").write_text(
            json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8"
        )
    if as_json:
        payload = {
            "summary": summary.to_json(),
            "results": [r.to_json() for r in results],
            "failures": [
                {"file": o.source, "error": o.error} for o in outcomes if o.status == "failed"
            ],
            "skipped": [o.source for o in outcomes if o.status == "skipped"],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_summary(summary, out)
    checks_failed = any(
        d.verification is not None and not d.verification.ok for r in results for d in r.dags
    )
    if any(o.status == "failed" for o in outcomes) or checks_failed:
        raise typer.Exit(ExitCode.FAILED)


def _from_account(
    pipeline_id: str, region: str | None, options: dict, quiet: bool
) -> list[PipelineOutcome]:
    console = Console(stderr=True, quiet=quiet)
    with Progress(
        TextColumn("[bold]reading pipelines[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        return convert_account(pipeline_id, region=region, progress=progress, **options)


def _from_files(
    path: Path, values: Path | None, parameters: Path | None, options: dict
) -> list[PipelineOutcome]:
    if not path.is_dir():
        result = convert_file(path, values=values, parameters=parameters, **options)
        return [PipelineOutcome(str(path), {}, result)]
    results, failures, skipped = convert_folder(
        path, values=values, parameters=parameters, **options
    )
    outcomes = [PipelineOutcome(r.source, {}, r) for r in results]
    outcomes += [PipelineOutcome(str(p), {}, error=m) for p, m in failures]
    return outcomes + [_skipped(p) for p in skipped]


def _skipped(path: Path) -> PipelineOutcome:
    return PipelineOutcome(str(path), {}, error="no pipeline objects", skipped=True)


def _check(
    results: list[ConversionResult],
    out: Path,
    mode: Mode,
    version: str,
    when: dt.datetime | None,
) -> None:
    if mode == "none" or not results:
        return
    with tempfile.TemporaryDirectory(prefix="airshift-dp-check-") as home:
        print(f"checking the DAGs with Airflow {version} ({mode})...", file=sys.stderr)
        airflow = AirflowCheck(Path(home), version, log=lambda m: print(m, file=sys.stderr))
        check_results(results, out, mode, airflow, when)


def _print_summary(summary: Summary, out: Path) -> None:
    console = Console()
    table = Table(title=f"AWS Data Pipeline -> Airflow DAGs in {out}")
    for column in ("pipeline", "status", "DAG", "schedule", "tasks", "checked", "why"):
        table.add_column(column, overflow="fold")
    for o in summary.outcomes:
        dags = o.result.dags if o.result else []
        if not dags:
            table.add_row(o.source, o.status, "-", "-", "-", "-", o.why)
        for dag in dags:
            table.add_row(
                o.source,
                o.status,
                dag.filename,
                dag.plan.schedule.summary,
                str(len(dag.plan.tasks)),
                dag.checked,
                o.why,
            )
    console.print(table)
    counts = summary.counts()
    console.print(
        f"{counts['clean']} clean, {counts['todos']} with TODOs, {counts['failed']} not converted",
        highlight=False,
    )
