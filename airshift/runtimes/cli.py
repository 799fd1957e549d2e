"""``airshift runtimes``: see, install, remove and bundle the cached Airflow runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from airshift import airflow_env
from airshift.cli_options import JsonOpt
from airshift.errors import AirshiftError, ExitCode
from airshift.report import console
from airshift.runtimes import venv

runtimes_app = typer.Typer(
    help="The Airflow releases airshift runs migrations and checks in (cached virtualenvs).",
    no_args_is_help=True,
)
VersionArg = Annotated[str, typer.Argument(help="An Airflow release, e.g. 2.10.5 or 3.4.0b2.")]


def _note(message: str) -> None:
    """Installer notes go to stderr, so that --json output stays parseable."""
    console.err.print(message, markup=False, highlight=False)


def _size(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


@runtimes_app.command("list")
def list_command(json_out: JsonOpt = False) -> None:
    """What is cached: version, size, how it was resolved (rule, cut-off, index or wheelhouse)."""
    rows = [r.as_dict() for r in airflow_env.installed()]
    if json_out:
        console.print_json({"cache": str(airflow_env.cache_dir()), "runtimes": rows})
        return
    table = Table(title=f"Airflow runtimes in {airflow_env.cache_dir() / 'venvs'}")
    for column in ("version", "size", "resolved", "source", "python", "extras", "folder"):
        table.add_column(column, overflow="fold")
    for row in rows:
        base = airflow_env.requirements_for(row["version"])
        extras = [r for r in row["requirements"] if r not in base]
        resolved = {
            "complete": f"as of {row['cutoff']}",
            "legacy": "[red]unpinned (old airshift): not used, remove it[/]",
            "incomplete": "[red]incomplete (an install is running or failed)[/]",
        }[row["state"]]
        table.add_row(
            row["version"],
            _size(row["bytes"]),
            resolved,
            row["source"] or "-",
            row["python"] or "-",
            " ".join(extras) or "-",
            Path(row["path"]).name,
        )
    console.out.print(table)
    if not rows:
        console.out.print("No runtimes yet: commands install the ones they need on first use.")


@runtimes_app.command("install")
def install_command(
    version: VersionArg,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="A wheelhouse made by `airshift runtimes download`: install with no index.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Install a release now (commands otherwise install what they need on first use)."""
    env = (
        airflow_env.install_from(version, from_dir, log=_note)
        if from_dir
        else airflow_env.ensure(version, log=_note)
    )
    if json_out:
        console.print_json(venv.read(env.path).as_dict() | {"path": str(env.path)})
    else:
        console.out.print(f"Airflow {version}: {env.path}", markup=False, highlight=False)


@runtimes_app.command("remove")
def remove_command(version: VersionArg, json_out: JsonOpt = False) -> None:
    """Delete every cached runtime of a release (plain and with extra packages)."""
    gone = airflow_env.remove(version)
    if json_out:
        console.print_json({"removed": [str(r.path) for r in gone]})
    elif gone:
        for runtime in gone:
            console.out.print(f"removed {runtime.path}", markup=False, highlight=False)
    else:
        console.err.print(f"No cached runtime of Airflow {version}.", markup=False)
        raise typer.Exit(ExitCode.FAILED)


@runtimes_app.command("path")
def path_command(version: VersionArg, json_out: JsonOpt = False) -> None:
    """The folder of a release's runtime (exit 1 when it is not installed yet)."""
    path = airflow_env.runtime_path(version, log=_note)
    installed = airflow_env.is_installed(version)
    if json_out:
        console.print_json({"version": version, "path": str(path), "installed": installed})
    else:
        print(path)
    if not installed:
        raise typer.Exit(ExitCode.FAILED)


@runtimes_app.command("download")
def download_command(
    version: VersionArg,
    to: Annotated[Path, typer.Option("--to", help="Folder for the wheelhouse.")],
    json_out: JsonOpt = False,
) -> None:
    """Make a wheelhouse for an air-gapped machine (same Python version and platform as this
    one); there: `airshift runtimes install VERSION --from DIR`."""
    if to.exists() and any(to.iterdir()):
        raise AirshiftError(f"{to} is not empty: give an empty or new folder for the wheelhouse.")
    spec = airflow_env.download(version, to, log=_note)
    if json_out:
        console.print_json(spec | {"folder": str(to)})
    else:
        console.out.print(
            f"{len(spec['wheels'])} wheels for Airflow {version} ({spec['python']}) in {to}",
            markup=False,
            highlight=False,
        )
