"""``airshift code check|upgrade``: the command-line layer over ``check_project`` and ``upgrade_project``.

Why a sub-app: ``airshift upgrade`` is taken by metadata archives; code and configuration
live under ``airshift code``. Nothing here decides anything: it parses options, calls the
library, prints, and sets the exit code (1 when something breaks on the target).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.syntax import Syntax

from airshift.errors import ExitCode

if TYPE_CHECKING:  # the checks load libcst, ruff and SQLAlchemy: only when a command runs
    from airshift.code.check import CheckOptions
    from airshift.code.findings import Report
    from airshift.code.upgrade import UpgradeResult

code_app = typer.Typer(
    help="Will the DAGs, plugins, requirements and config work on Airflow X? Fix what is safe.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


Target = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        help="Airflow version to check against, e.g. 3.3.2, or a minor version such as 3.3 "
        "(the newest release of it that airshift knows).",
    ),
]
NoImportCheck = Annotated[
    bool, typer.Option("--no-import-check", help="Skip the DagBag import in the target venv.")
]
NoResolve = Annotated[
    bool, typer.Option("--no-resolve", help="Skip the dry-run resolve of requirements.txt.")
]


def _options(no_import_check: bool, no_resolve: bool, quiet: bool) -> CheckOptions:
    from airshift.code.check import CheckOptions

    log = (lambda message: None) if quiet else (lambda message: err.print(f"[dim]{message}[/]"))
    return CheckOptions(import_check=not no_import_check, resolve=not no_resolve, log=log)


def _exit(report: Report) -> None:
    raise typer.Exit(ExitCode.FAILED if report.breaks else ExitCode.OK)


@code_app.command("check")
def check(
    project: Annotated[str, typer.Argument(help="Project folder or object-store URL.")],
    target: Target,
    output_format: Annotated[
        Format, typer.Option("--format", "-f", help="Output format.")
    ] = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    no_import_check: NoImportCheck = False,
    no_resolve: NoResolve = False,
) -> None:
    """Report everything that breaks, is deprecated or worth a look on the target version."""
    from airshift.code import render
    from airshift.code.check import check_project

    fmt = Format.json if as_json else output_format
    report = check_project(
        project, target, _options(no_import_check, no_resolve, fmt != Format.table)
    )
    if fmt is Format.table:
        render.print_table(report, out)
    else:
        print(render.to_json(report) if fmt is Format.json else render.to_sarif(report))
    _exit(report)


@code_app.command("upgrade")
def upgrade(
    project: Annotated[str, typer.Argument(help="Project folder (object-store URLs: diff only).")],
    target: Target,
    write: Annotated[
        bool, typer.Option("--write", help="Write the changes (default: show the diff).")
    ] = False,
    unsafe_fixes: Annotated[
        bool,
        typer.Option(
            "--unsafe-fixes",
            help="Also apply fixes marked unsafe (right in the usual case; review the diff).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the changes and what is left as JSON.")
    ] = False,
    no_import_check: NoImportCheck = False,
    no_resolve: NoResolve = False,
) -> None:
    """Apply safe fixes (diff by default, --write to write), then show what is left per file."""
    import json

    from airshift.code.upgrade import upgrade_project

    options = _options(no_import_check, no_resolve, as_json)
    result = upgrade_project(project, target, write, options, unsafe=unsafe_fixes)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        _print_upgrade(result)
    assert result.report is not None
    _exit(result.report)


def _print_upgrade(result: UpgradeResult) -> None:
    from airshift.code import render

    for change in result.changes:
        out.print(Syntax(change.diff(), "diff", theme="ansi_dark", background_color="default"))
    for reason in result.skipped:
        out.print(f"[yellow]not fixed:[/] {reason}")
    count = len(result.changes)
    if result.written:
        out.print(f"[green]wrote {count} file(s)[/]")
    elif count:
        out.print(f"{count} file(s) would change; run again with --write to write them.")
    else:
        out.print("nothing to fix automatically.")
    assert result.report is not None
    out.print("\n[bold]What is left after the fixes:[/]")
    for file, findings in result.report.by_file().items():
        out.print(render.findings_table(findings, title=file))
    out.print(render.summary(result.report))
