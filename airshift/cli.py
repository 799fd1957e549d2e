"""The ``airshift`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from airshift.errors import AirshiftError, ExitCode
from airshift.logs.cli import logs_app

app = typer.Typer(
    name="airshift",
    help="Move Apache Airflow deployments to a new environment or version without losing anything.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(logs_app, name="logs")
err = Console(stderr=True)


def main() -> None:
    """Console-script entry point: every AirshiftError becomes a message and an exit code."""
    try:
        app()
    except AirshiftError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/]")
        sys.exit(ExitCode.INTERRUPTED)
