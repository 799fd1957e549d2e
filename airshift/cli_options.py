"""Typer option types that several command groups share, declared once.

Why here: ``--json``, ``--report`` and the export selection (``--dag-id``, ``--since``,
``--last-runs``) mean the same under ``airshift``, ``airshift agent``, ``airshift env`` and
``airshift runtimes``; one declaration keeps their names and help the same everywhere.
"""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
ReportOpt = Annotated[
    str | None,
    typer.Option(help="Also write the full report to this file: HTML for *.html, else JSON."),
]
DagIdOpt = Annotated[
    list[str], typer.Option("--dag-id", help="Only these DAGs (glob; repeatable).")
]
SinceOpt = Annotated[str | None, typer.Option(help="Only runs dated on or after this ISO date.")]
LastRunsOpt = Annotated[
    int | None, typer.Option("--last-runs", min=1, help="Only the newest N runs per DAG.")
]
# `import`, `migrate` and `agent import`: where connections and variables go instead.
SecretsToOpt = Annotated[
    str | None,
    typer.Option(
        "--secrets-to",
        help="aws-secretsmanager://[CONNECTIONS_PREFIX,VARIABLES_PREFIX][?region=R]: write "
        "connections and variables to AWS Secrets Manager, as Airflow's SecretsManagerBackend "
        "reads them, instead of the target database (a different value stays unless "
        "--on-conflict overwrite).",
    ),
]
