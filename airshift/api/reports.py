"""What each command did: typed reports that render themselves.

Why: a caller gets data, not printed text. Every report gives ``as_dict()`` (the
command's ``--json`` output, and its ``--report`` file), ``render()`` (what a person at a
terminal reads, through ``report/console.py``), ``notices()`` (lines for stderr whatever
the output form: an archive key shown once, a warning) and ``exit_code`` (the CLI's
documented codes), the way dlt's ``LoadInfo`` has ``asdict()`` and ``asstr()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from airshift.env.secretsmanager import SecretsReport
from airshift.errors import ExitCode
from airshift.logs.copy import CopyReport, Status
from airshift.metadata.cutover import CutoverState
from airshift.metadata.extract import ExportResult
from airshift.metadata.importer import ImportResult
from airshift.report import console


class Report(Protocol):
    """What every command returns."""

    @property
    def exit_code(self) -> ExitCode: ...

    def as_dict(self) -> dict[str, Any]: ...

    def render(self) -> None: ...

    def notices(self) -> list[str]: ...


class _Quiet:
    """A report that succeeded whatever it found and has nothing to say on stderr (the
    defaults the other reports override)."""

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK

    def notices(self) -> list[str]:
        return []


@dataclass
class InspectReport(_Quiet):
    """A database's or an archive's contents, and what will not migrate cleanly."""

    data: dict[str, Any]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.data.get("problems") else ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return self.data

    def render(self) -> None:
        console.render_inspect(self.data)


@dataclass
class ExportReport(_Quiet):
    result: ExportResult

    def summary(self) -> dict[str, Any]:
        m = self.result.manifest
        return {
            "archive": self.result.archive_url,
            "source": m.source,
            "tables": {n: t.rows for n, t in sorted(m.tables.items())},
            "rows": sum(t.rows for t in m.tables.values()),
            "skipped_tables": m.skipped_tables,
            "secrets": m.secrets["mode"],
        }

    def as_dict(self) -> dict[str, Any]:
        return self.summary() | {"generated_archive_key": self.result.generated_key}

    def render(self) -> None:
        m, summary = self.result.manifest, self.summary()
        console.out.print(
            f"[green]exported[/] {summary['rows']} rows from {len(m.tables)} tables of "
            f"{m.source['airflow_version']} to {self.result.archive_url}"
        )
        if self.result.generated_key:
            console.err.print(
                "[bold yellow]archive key (shown once; keep it safe, it is needed to import "
                f"secrets):[/]\n{self.result.generated_key}"
            )


def _differing(result: ImportResult) -> bool:
    return bool(result.merge and any(t.differing for t in result.merge.tables.values()))


def _secrets_failed(secrets: SecretsReport | None) -> bool:
    return bool(secrets and secrets.failed)


def _secrets_notices(secrets: SecretsReport | None) -> list[str]:
    """A secret left out is said on stderr whatever the output form (never its value)."""
    return [
        f"[red]{r.kind} {r.key} not written to Secrets Manager[/] ({r.status.value}): {r.message}"
        for r in (secrets.problems if secrets else [])
    ]


@dataclass
class ImportReport:
    """What an import inserted, skipped, lost and kept, table by table (and, with
    ``--secrets-to``, what went to Secrets Manager)."""

    result: ImportResult
    secrets: SecretsReport | None = None

    @property
    def exit_code(self) -> ExitCode:
        bad = _differing(self.result) or _secrets_failed(self.secrets)
        return ExitCode.FAILED if bad else ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return self.result.as_dict() | {
            "secrets_to": self.secrets.as_dict() if self.secrets else None
        }

    def render(self) -> None:
        console.render_import(self.as_dict())

    def notices(self) -> list[str]:
        return _secrets_notices(self.secrets)


@dataclass
class UpgradeReport(_Quiet):
    result: ImportResult
    archive: str  # the archive upgraded
    out: str  # the new archive
    release: str
    tables: dict[str, int]  # the new archive's rows per table

    def as_dict(self) -> dict[str, Any]:
        return self.result.as_dict() | {"archive": self.out, "tables": self.tables}

    def render(self) -> None:
        r = self.result
        console.out.print(
            f"[green]upgraded[/] {self.archive} ({r.source_revision}) to Airflow {self.release} "
            f"({r.target_revision}): {self.out}"
        )
        console.render_losses(self.as_dict())
        console.render_seconds(self.as_dict())


@dataclass
class LogsCopyReport(_Quiet):
    """Every task log's outcome."""

    copied: CopyReport

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.copied.ok else ExitCode.FAILED

    def as_dict(self) -> dict[str, Any]:
        return self.copied.to_dict()

    def render(self) -> None:
        report = self.copied
        if report.dry_run:
            for r in report.results:
                if r.status in (Status.WOULD_COPY, Status.PRESENT):
                    line = f"{r.status.value:>10} {r.bytes:>12,}  {r.source} -> {r.target}"
                    console.out.print(line, highlight=False, soft_wrap=True)
        for r in report.failures:
            where = f" ({r.source} -> {r.target})" if r.source else ""
            line = f"[red]{r.status.value}[/] {r.task_try}{where}: {r.message}"
            console.err.print(line, highlight=False, soft_wrap=True)
        console.render_copy_summary(
            report.dry_run, report.counts, report.bytes, report.unrecorded_found
        )


@dataclass
class MigrateReport:
    imported: ImportResult
    archive: str | None  # where the intermediate archive was kept, if asked
    archive_key: str  # the key its secrets are sealed with (said once, on stderr, if kept)
    logs: CopyReport | None = None
    secrets: SecretsReport | None = None  # with --secrets-to

    @property
    def exit_code(self) -> ExitCode:
        if self.logs is not None and not self.logs.ok:
            return ExitCode.FAILED
        bad = _differing(self.imported) or _secrets_failed(self.secrets)
        return ExitCode.FAILED if bad else ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        data = self.imported.as_dict() | {
            "archive": self.archive,
            "logs": self.logs.to_dict() if self.logs else None,
            "secrets_to": self.secrets.as_dict() if self.secrets else None,
        }
        if self.archive:
            data["archive_key"] = "printed once on stderr"
        return data

    def render(self) -> None:
        console.render_import(self.as_dict())

    def notices(self) -> list[str]:
        said = (
            [f"[bold yellow]archive key (shown once):[/]\n{self.archive_key}"]
            if self.archive
            else []
        )
        if self.logs is not None and not self.logs.ok:
            said.append("[red]some task logs could not be copied[/] (see the report)")
        return said + _secrets_notices(self.secrets)


@dataclass
class VerifyReport(_Quiet):
    """Per table: rows missing in the target, and rows that differ."""

    compared: ImportResult

    @property
    def bad(self) -> list[str]:
        merge = self.compared.merge
        tables = merge.tables.items() if merge else ()
        return [n for n, t in tables if t.inserted or t.differing]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.bad else ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return self.compared.as_dict() | {"ok": not self.bad}

    def render(self) -> None:
        console.render_verify(self.compared.as_dict())


@dataclass
class CutoverReport(_Quiet):
    """The cutover's phases so far (its state), what each did, the DAGs unpaused and held."""

    state: CutoverState
    state_file: str
    plan: list[dict[str, Any]] | None = None  # --dry-run: what each phase would do
    archive_keys: dict[str, str] = field(default_factory=dict)  # kept archives' keys (stderr)

    def as_dict(self) -> dict[str, Any]:
        return self.state.as_dict() | {"state_file": self.state_file, "plan": self.plan}

    def render(self) -> None:
        console.render_cutover(self.as_dict())

    def notices(self) -> list[str]:
        said = [
            f"[bold yellow]archive key of {where} (shown once):[/]\n{key}"
            for where, key in self.archive_keys.items()
        ]
        said += [
            f"[yellow]held paused on the target:[/] {d}: {why}"
            for d, why in self.state.held.items()
        ]
        return said
