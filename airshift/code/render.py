"""Showing a report: a Rich table for people, JSON for scripts, SARIF for CI and code hosts.

Why SARIF: it is the format GitHub code scanning, GitLab and most CI systems read to show
findings inline on the changed lines, so ``--format sarif`` needs no further tooling.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from airshift import __version__
from airshift.code.findings import Finding, Report, Severity

STYLES = {Severity.BREAKS: "bold red", Severity.DEPRECATED: "yellow", Severity.ADVICE: "cyan"}
SARIF_LEVELS = {Severity.BREAKS: "error", Severity.DEPRECATED: "warning", Severity.ADVICE: "note"}


def summary(report: Report) -> str:
    """One line: how many findings of each severity, and whether anything breaks."""
    counts = {s: sum(f.severity is s for f in report.findings) for s in Severity}
    parts = ", ".join(f"{counts[s]} {s.value}" for s in Severity)
    verdict = "breaks" if report.breaks else "works"
    return f"Airflow {report.target}: {verdict} ({parts}; {len(report.files)} Python files)"


def findings_table(findings: list[Finding], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    for column in ("file:line", "rule", "severity", "fix", "message"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(
            f"{f.file}:{f.line}" if f.line else f.file,
            f.rule,
            f"[{STYLES[f.severity]}]{f.severity.value}[/]",
            f.fix.value if f.fix else "",
            f.message,
        )
    return table


def print_table(report: Report, console: Console) -> None:
    if report.findings:
        console.print(findings_table(report.sorted_findings()))
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(summary(report), style=STYLES[Severity.BREAKS] if report.breaks else "green")


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)


def to_sarif(report: Report) -> str:
    """SARIF 2.1.0 with one rule entry per rule id seen and one result per finding."""
    findings = report.sorted_findings()
    rules = sorted({f.rule for f in findings})
    results = [
        {
            "ruleId": f.rule,
            "level": SARIF_LEVELS[f.severity],
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file.split(":", 1)[0]},
                        "region": {"startLine": max(f.line, 1)},
                    }
                }
            ],
            "properties": {
                "severity": f.severity.value,
                "fix": f.fix.value if f.fix else None,
                "source": f.source,
            },
        }
        for f in findings
    ]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "airshift",
                        "version": __version__,
                        "rules": [{"id": rule} for rule in rules],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2)
