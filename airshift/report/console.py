"""Rich renderings of inspect, export, import and verify results, and JSON output."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

out = Console()
err = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine output on stdout, nothing else there."""
    print(json.dumps(data, indent=1, default=str, sort_keys=True))


def progress(enabled: bool = True) -> Progress:
    """A per-table progress display on stderr (off for --json and non-terminals)."""
    return Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not enabled,
        transient=False,
    )


def _human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def render_inspect(data: dict[str, Any]) -> None:
    if data["kind"] == "database":
        out.print(
            f"[bold]{data['url']}[/]  {data['backend']}, {data['airflow_version']} (revision {data['alembic_revision']})"
        )
        d, h = data["dags"], data["history"]
        out.print(
            f"DAGs: {d['total']} ({d['paused']} paused)   runs: {h['runs']} from {h['first']} to {h['last']}"
        )
    else:
        s = data["source"]
        out.print(
            f"[bold]archive {data['url']}[/]  made {data['created_at']} from {s['url']} ({s['backend']}, {s['airflow_version']})"
        )
        out.print(
            f"secrets: {data['secrets'].get('mode')}   filters: {json.dumps(data['filters'])}"
        )
    table = Table("table", "rows", "size", box=None)
    for t in data["tables"]:
        if t["rows"]:
            table.add_row(t["name"], str(t["rows"]), _human_bytes(t["bytes"]))
    out.print(table)
    empty = [t["name"] for t in data["tables"] if not t["rows"]]
    if empty:
        out.print(f"[dim]empty: {', '.join(empty)}[/]")
    for name, n in (data.get("migration_issues") or {}).items():
        if n:
            out.print(f"[yellow]will not migrate cleanly to Airflow 3:[/] {name}: {n}")
    for name, reason in (data.get("skipped_tables") or {}).items():
        out.print(f"[dim]not exported: {name}: {reason}[/]")
    problems = data.get("problems")
    if problems:
        for p in problems:
            out.print(f"[bold red]damaged:[/] {p}")
    elif problems is not None:
        out.print("[green]all table files match their SHA-256 checksums[/]")
