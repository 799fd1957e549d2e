"""``airshift env plan|create|resources``: the command line over ``airshift.env``.

Nothing here decides anything: it parses options, calls the library, prints (results on
stdout, progress and notes on stderr) and sets the exit code: 0 done, 1 the environment
failed to create or the files break on the target, 2 refused or bad input.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from airshift.cli_options import JsonOpt
from airshift.env.formats import Format
from airshift.errors import ExitCode

if TYPE_CHECKING:
    from airshift.env.plan import Plan
    from airshift.env.resources import ResourcesResult

env_app = typer.Typer(
    help="Amazon MWAA: plan and create the new environment from the old one, move its files.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)


@env_app.command("plan")
def plan_command(
    source: Annotated[
        str,
        typer.Argument(
            help="mwaa://NAME[?region=R], or a file with `aws mwaa get-environment` output."
        ),
    ],
    airflow_version: Annotated[
        str, typer.Option("--airflow-version", help="The new environment's Airflow version.")
    ],
    name: Annotated[str, typer.Option("--name", help="The new environment's name.")],
    output_format: Annotated[
        Format, typer.Option("--format", "-f", help="CreateEnvironment JSON or an IaC template.")
    ] = Format.json,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the plan here (mode 0600), not stdout.")
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(help="Bucket for the new environment's files (default: the source's)."),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="Key prefix of its files (default: NAME/ in the source's bucket)."),
    ] = None,
    execution_role: Annotated[
        str | None, typer.Option(help="Execution role ARN (default: the source's).")
    ] = None,
    secrets_to: Annotated[
        str | None,
        typer.Option(
            help="aws-secretsmanager://[CONNECTIONS_PREFIX,VARIABLES_PREFIX]: set secrets.backend."
        ),
    ] = None,
    archive: Annotated[
        str | None,
        typer.Option(help="s3://BUCKET/PREFIX of an airshift archive the environment reads."),
    ] = None,
    policy_out: Annotated[
        Path | None, typer.Option(help="Write the IAM policy the execution role needs here.")
    ] = None,
    no_role_check: Annotated[
        bool, typer.Option("--no-role-check", help="Do not read the role's policies from IAM.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Plan a new environment on another Airflow version from an existing one.

    Every setting is carried; configuration options are renamed, dropped or refused as the
    target Airflow says; anything MWAA would not accept refuses the plan with the reason.
    """
    from airshift.env import create
    from airshift.env.formats import render
    from airshift.env.plan import PlanOptions, make_plan
    from airshift.env.secretsmanager import SecretsManagerTarget
    from airshift.env.source import read_environment

    options = PlanOptions(
        airflow_version=airflow_version.strip(),
        name=name,
        bucket=bucket,
        prefix=prefix,
        execution_role_arn=execution_role,
        secrets_to=SecretsManagerTarget.parse(secrets_to) if secrets_to else None,
        archive=archive,
        check_role=not no_role_check,
    )
    log = (lambda message: None) if json_out else (lambda message: err.print(f"[dim]{message}[/]"))
    plan = make_plan(read_environment(source), options, log=log)
    text = render(plan, output_format)
    if out_file and output_format is Format.json:
        create.write_plan(out_file, plan.request)
    elif out_file:
        create.write_private(out_file, text)
    if policy_out:
        policy_out.write_text(json.dumps(plan.policy_document(), indent=2) + "\n", encoding="utf-8")
    if json_out:
        print(json.dumps(plan.as_dict(), indent=1, default=str))
        return
    if out_file is None:
        print(text, end="")
    _print_notes(plan)
    if out_file:
        err.print(f"[green]wrote {output_format.value} plan to {out_file}[/]")


def _print_notes(plan: Plan) -> None:
    err.print(f"[bold]{plan.source.name} ({plan.source.version}) -> {plan.request['Name']}[/]")
    for note in plan.notes:
        color = "yellow" if note.level.value == "warning" else "dim"
        err.print(
            f"[{color}]{note.level.value:>7}[/] {escape(note.setting)}: {escape(note.message)}",
            highlight=False,
        )


@env_app.command("create")
def create_command(
    plan_file: Annotated[Path, typer.Argument(help="A plan made by `env plan --format json`.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until AVAILABLE or CREATE_FAILED.")
    ] = False,
    region: Annotated[
        str | None, typer.Option(help="The region to create it in (the source's, for its subnets).")
    ] = None,
    poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", min=0, help="Seconds between status checks.")
    ] = 30.0,
    timeout_minutes: Annotated[
        float, typer.Option("--timeout-minutes", min=1, help="Stop waiting after this long.")
    ] = 180.0,
    json_out: JsonOpt = False,
) -> None:
    """Create the environment a plan describes (after checking its bucket), optionally waiting."""
    from airshift.env.create import Progress, create_environment, read_plan

    request = read_plan(plan_file)
    seen: list[str] = []

    def progress(step: Progress) -> None:
        if not seen or seen[-1] != step.status:
            err.print(f"{step.elapsed / 60:5.1f} min  {request['Name']} {step.status}")
            seen.append(step.status)

    with err.status(f"creating {request['Name']}", spinner="dots") if wait else nullcontext():
        result = create_environment(
            request,
            wait,
            region,
            poll_seconds=poll_seconds,
            timeout_seconds=timeout_minutes * 60,
            progress=progress,
        )
    if json_out:
        print(json.dumps(vars(result), indent=1))
    elif result.failed:
        err.print(
            f"[bold red]{result.name} {result.status}:[/] {result.reason or 'no reason given'}"
        )
    else:
        out.print(
            f"{result.name} {result.status}  {result.arn}  {result.webserver_url or ''}".rstrip()
        )
    if result.failed:
        raise typer.Exit(ExitCode.FAILED)


@env_app.command("resources")
def resources_command(
    source: Annotated[
        str,
        typer.Argument(
            help="mwaa://NAME, a saved get-environment file, or a local project folder."
        ),
    ],
    target: Annotated[
        str, typer.Argument(help="mwaa://NEW_NAME, or the plan file of one not created yet.")
    ],
    write: Annotated[
        bool,
        typer.Option("--write", help="Upload and set the new object versions (default: show)."),
    ] = False,
    no_import_check: Annotated[
        bool, typer.Option("--no-import-check", help="Skip the DagBag import in the target venv.")
    ] = False,
    no_resolve: Annotated[
        bool, typer.Option("--no-resolve", help="Skip the dry-run resolve of requirements.txt.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Upgrade the DAGs, requirements, plugins and startup script for the target and move them.

    Shows the diff and what is left to fix; --write uploads to the target's paths. Nothing is
    ever written to the source.
    """
    from airshift.code.check import CheckOptions
    from airshift.env.resources import move_resources

    options = CheckOptions(
        import_check=not no_import_check,
        resolve=not no_resolve,
        log=lambda message: err.print(f"[dim]{message}[/]"),
    )
    result = move_resources(source, target, write, options, log=options.log)
    report = result.upgrade.report
    assert report is not None
    if json_out:
        print(json.dumps(_resources_json(result), indent=1))
    else:
        _print_resources(result)
    raise typer.Exit(ExitCode.FAILED if report.breaks else ExitCode.OK)


def _resources_json(result: ResourcesResult) -> dict:
    from airshift.code import render

    assert result.upgrade.report is not None
    return {
        "source": result.source,
        "target": result.target,
        "target_version": result.target_version,
        "written": result.written,
        "files": [
            {
                "kind": f.kind,
                "key": f.key,
                "action": f.action.value,
                "size": f.size,
                "version": f.version,
            }
            for f in result.files
        ],
        "update": result.update,
        "changes": [{"file": c.display, "diff": c.diff()} for c in result.upgrade.changes],
        "not_fixed": result.upgrade.skipped,
        "check": json.loads(render.to_json(result.upgrade.report)),
    }


def _print_resources(result: ResourcesResult) -> None:
    from airshift.code import render

    for change in result.upgrade.changes:
        out.print(Syntax(change.diff(), "diff", theme="ansi_dark", background_color="default"))
    for reason in result.upgrade.skipped:
        out.print(f"[yellow]not fixed:[/] {reason}")
    table = Table("kind", "target key", "action", "bytes", "version", box=None)
    for f in result.files:
        table.add_row(f.kind, f.key, f.action.value, f"{f.size:,}", f.version or "")
    out.print(table)
    if result.update:
        verb = "set" if result.written else "would set"
        out.print(f"{verb}: " + ", ".join(f"{k}={v}" for k, v in sorted(result.update.items())))
    assert result.upgrade.report is not None
    for file, findings in result.upgrade.report.by_file().items():
        out.print(render.findings_table(findings, title=file))
    out.print(render.summary(result.upgrade.report))
    if not result.written:
        out.print("dry run: nothing was written; run again with --write to upload.")
