"""The terminal side of the CLI: Rich renderings of results, JSON output, progress, log.

Why here and not in the library: what a person sees is the CLI's choice. The library
reports results as data (``airshift.api``'s reports render themselves through the
functions below), and says where it is through the ``progress.Progress`` and ``Log``
protocols, which ``RichProgress`` and ``stderr_log`` show on a terminal.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from airshift.metadata.importer import PHASES
from airshift.report import html

if TYPE_CHECKING:
    from airshift.api.reports import Report

out = Console()
err = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine output on stdout, nothing else there."""
    print(json.dumps(data, indent=1, default=str, sort_keys=True))


class RichProgress:
    """``progress.Progress`` as a Rich display on stderr: one bar per piece of work (off,
    and not even counted, for --json and non-terminals)."""

    def __init__(self, enabled: bool = True) -> None:
        self.watched = enabled
        self._bar = Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[label]}"),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()  # pieces of work start in worker threads

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def update(
        self, name: str, advance: int = 0, total: int | None = None, label: str = ""
    ) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is None:
                task = self._tasks[name] = self._bar.add_task(name, total=total, label=label)
        self._bar.update(task, advance=advance, total=total, label=label)


def emit(report: Report, json_out: bool, report_path: str | None = None) -> None:
    """Show a command's report (JSON on stdout, or text for a person), write it to
    ``report_path`` if asked, say its notices on stderr, and exit with its code."""
    data = report.as_dict()
    if report_path:
        write_report(report_path, data)
    if json_out:
        print_json(data)
    else:
        report.render()
    for notice in report.notices():
        err.print(notice)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def stderr_log(message: str) -> None:
    """``progress.Log`` for a person at a terminal: dim lines on stderr."""
    err.print(f"[dim]{escape(message)}[/]", highlight=False)


def _human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


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
    render_custom_roles(data)
    problems = data.get("problems")
    if problems:
        for p in problems:
            out.print(f"[bold red]damaged:[/] {p}")
    elif problems is not None:
        out.print("[green]all table files match their SHA-256 checksums[/]")


def write_report(path: str, data: dict[str, Any]) -> None:
    """``--report PATH``: the page people read for *.html, else the JSON."""
    if path.lower().endswith((".html", ".htm")):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(html.render(data))
    else:
        write_json(path, data)


def write_json(path: str, data: Any) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str, sort_keys=True)


def render_import(data: dict[str, Any]) -> None:
    m = data["merge"] or {"tables": {}, "skipped_tables": {}}
    verb = "would import" if m.get("dry_run") else "imported"
    table = Table(
        "table",
        "archived",
        "staged",
        "inserted",
        "existing",
        "overwritten",
        "conflicts",
        "w/o parent",
        "differing",
        box=None,
    )
    for name, t in m["tables"].items():
        if t["staged"] or data["archived"].get(name):
            table.add_row(
                name,
                str(data["archived"].get(name, "")),
                *(
                    str(t[k])
                    for k in (
                        "staged",
                        "inserted",
                        "existing",
                        "overwritten",
                        "conflicts",
                        "without_parent",
                        "differing",
                    )
                ),
            )
    out.print(table)
    inserted = sum(t["inserted"] for t in m["tables"].values())
    out.print(
        f"[green]{verb}[/] {inserted} rows ({data['source_revision']} -> {data['target_revision']})"
    )
    render_losses(data)
    if m.get("linked_to_dag_version"):
        out.print(
            f"[cyan]linked to the target's DAG version[/]: {m['linked_to_dag_version']} task instances"
        )
    for name, reason in {**data.get("not_loaded", {}), **m.get("skipped_tables", {})}.items():
        out.print(f"[dim]not imported: {name}: {reason}[/]")
    if data.get("secrets_to"):
        render_secrets(data["secrets_to"])
    render_custom_roles(data)
    if data.get("dags_not_deployed"):
        out.print(
            f"[yellow]DAGs not deployed on the target yet (history appears once parsed):[/] {', '.join(data['dags_not_deployed'])}"
        )
    for name, t in m["tables"].items():
        for sample in t.get("samples", []):
            if "'conflict'" in sample:  # rows the target already has are counted, not listed
                out.print(f"[yellow]{name} conflict:[/] {sample}")
    render_seconds(data)


def render_seconds(data: dict[str, Any]) -> None:
    """Where the time went, step by step: Airflow's own migrations apart from airshift's."""
    spent = data.get("seconds") or {}
    for phase, seconds in spent.items():
        out.print(f"[dim]{seconds:8.1f} s  {PHASES.get(phase, phase)}[/]", highlight=False)


def render_custom_roles(data: dict[str, Any]) -> None:
    """Custom roles are not imported: each is named with what it held, to re-create."""
    for role, permissions in data.get("custom_roles", {}).items():
        out.print(
            f"[yellow]custom role not imported[/] {role} (re-create it on the target): "
            + ("; ".join(permissions) or "no permissions"),
            highlight=False,
            soft_wrap=True,
        )


def render_secrets(data: dict[str, Any]) -> None:
    """Connections and variables written to Secrets Manager: names and outcomes, no values."""
    verb = "would write" if data["dry_run"] else "wrote"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["counts"].items()))
    out.print(
        f"[green]Secrets Manager[/] ({data['connections_prefix']}, {data['variables_prefix']}): "
        f"{verb} {counts or 'nothing'}",
        highlight=False,
    )
    for r in data["results"]:
        if r["message"]:
            out.print(f"[dim]{r['kind']} {r['key']}: {r['status']}: {r['message']}[/]")
    for note in data["notes"]:
        out.print(f"[dim]{note}[/]")


def render_verify(data: dict[str, Any]) -> None:
    table = Table(
        "table", "in archive (upgraded)", "missing in target", "conflicting", "differing", box=None
    )
    bad = 0
    for name, t in data["merge"]["tables"].items():
        if not t["staged"]:
            continue
        bad += t["inserted"] + t["differing"]
        style = "red" if t["inserted"] or t["differing"] else ""
        table.add_row(
            name,
            str(t["staged"]),
            str(t["inserted"]),
            str(t["conflicts"]),
            str(t["differing"]),
            style=style,
        )
    out.print(table)
    for name, reason in {
        **data.get("not_loaded", {}),
        **data["merge"].get("skipped_tables", {}),
    }.items():
        out.print(f"[dim]not compared: {name}: {reason}[/]")
    if bad:
        out.print(f"[bold red]{bad} rows missing or different in the target[/]")
    else:
        out.print("[green]the target holds every archived row that migrates, unchanged[/]")


def render_losses(data: dict[str, Any]) -> None:
    """What Airflow's own migration loses on the way, and what airshift kept."""
    for name, loss in data.get("losses", {}).items():
        out.print(
            f"[yellow]{name}[/]: {loss['rows']} rows: {loss['airflow_migration']}; airshift: {loss['airshift']}"
        )
    for name, n in data.get("improvements", {}).items():
        if n:
            out.print(f"[cyan]kept by airshift[/]: {name}: {n}")


def render_copy_summary(
    dry_run: bool, counts: dict[str, int], copied_bytes: int, unrecorded_found: int
) -> None:
    """The totals of a logs copy: files per status, bytes moved, and how many of the files
    belong to tries no metadata row names."""
    table = Table(title="dry run: nothing was written" if dry_run else "logs copy")
    table.add_column("status")
    table.add_column("files", justify="right")
    for status, count in sorted(counts.items()):
        table.add_row(status, str(count))
    table.add_row("bytes", f"{copied_bytes:,}")
    if unrecorded_found:
        table.add_row("of which tries no metadata row names", str(unrecorded_found))
    out.print(table)


def render_cutover(data: dict[str, Any]) -> None:
    """The phases so far (or, for --dry-run, what each would do), then the DAGs."""
    if data.get("plan"):
        for step in data["plan"]:
            said = "[dim]done[/]" if step["done"] else step["would"]
            out.print(f"[bold]{step['phase']:<8}[/] {said}")
        return
    table = Table("phase", "started", "seconds", "what it did", box=None)
    for p in data["phases"]:
        table.add_row(p["phase"], p["started"], f"{p['seconds']:.1f}", p["summary"])
    out.print(table)
    if data.get("rolled_back"):
        out.print("[yellow]rolled back[/]: the source has its prior pause states")
    if data.get("unpaused"):
        out.print(f"[green]unpaused on the target[/]: {', '.join(data['unpaused'])}")
    for dag_id, why in data.get("held", {}).items():
        out.print(f"[yellow]held paused[/] {dag_id}: {why}")
    for task in data.get("moved_unfinished", []):
        out.print(f"[dim]moved unfinished: {task}[/]")
