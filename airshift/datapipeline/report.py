"""The conversion report: what each pipeline object became, and what still needs a person.

Why a report beside the code: a converted DAG is only trustworthy if every assumption and
every unconverted field is visible. The Markdown is for reviewers; ``--json`` is for tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airshift.datapipeline.connections import ConnectionSpec
from airshift.datapipeline.plan import DagPlan


@dataclass
class DagFile:
    dag_id: str
    filename: str
    code: str
    plan: DagPlan


@dataclass
class ConversionResult:
    """The DAG files converted from one definition, and the report about them."""

    source: str
    dags: list[DagFile]
    objects: list[dict[str, Any]]
    connections: list[ConnectionSpec]
    todos: list[tuple[str, str]]
    assumptions: list[tuple[str, str]]
    repairs: list[str]
    providers: dict[str, str]
    unused_parameters: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dags": [
                {
                    "dag_id": d.dag_id,
                    "file": d.filename,
                    "schedule": d.plan.schedule.summary,
                    "tasks": [t.task_id for t in d.plan.tasks],
                    "params": {p.id: {"default": p.default, **p.schema} for p in d.plan.params},
                    "variables": d.plan.secrets,
                }
                for d in self.dags
            ],
            "objects": self.objects,
            "connections": [
                {
                    "conn_id": c.conn_id,
                    "conn_type": c.conn_type,
                    "from_object": c.source,
                    "fields": c.fields,
                    "extra": c.extra,
                    "password": f"set by hand (definition field {c.password_from})"
                    if c.password_from
                    else None,
                }
                for c in self.connections
            ],
            "unused_parameters": self.unused_parameters,
            "todos": [{"object": o, "message": m} for o, m in self.todos],
            "assumptions": [{"object": o, "message": m} for o, m in self.assumptions],
            "repairs": self.repairs,
            "minimum_versions": self.providers,
        }

    def connections_stub(self) -> dict[str, dict[str, Any]]:
        """The connections in ``airflow connections import`` form, without passwords."""
        stub = {}
        for c in self.connections:
            entry: dict[str, Any] = {"conn_type": c.conn_type}
            for key in ("host", "schema", "login"):
                if key in c.fields:
                    entry[key] = c.fields[key]
            if c.fields.get("port", "").isdigit():
                entry["port"] = int(c.fields["port"])
            extra = dict(c.extra)
            if "connection_string" in c.fields:
                extra["connection_string"] = c.fields["connection_string"]
            if extra:
                entry["extra"] = extra
            stub[c.conn_id] = entry
        return stub

    def to_markdown(self) -> str:
        lines = [f"# Conversion report: `{_md(self.source)}`", ""]
        for d in self.dags:
            lines += [
                f"- DAG `{d.dag_id}` -> `{d.filename}`: {_md(d.plan.schedule.summary)}, "
                f"{len(d.plan.tasks)} task(s)",
            ]
        lines += ["", "## Minimum versions", ""]
        lines += [f"- `{pkg}` >= {version}" for pkg, version in self.providers.items()]
        lines += ["", "## Objects", "", "| Object | Type | Became |", "| --- | --- | --- |"]
        for entry in self.objects:
            became = ", ".join(
                [f"task `{t}`" for t in entry["tasks"]]
                + [f"connection `{c}`" for c in entry["connections"]]
            ) or _md(entry["note"])
            lines.append(f"| `{_md(entry['id'])}` | {_md(entry['type'])} | {became} |")
        if self.connections:
            lines += ["", "## Connections to create", ""]
            for c in self.connections:
                details = ", ".join(f"{k}={_md(v)}" for k, v in {**c.fields, **c.extra}.items())
                pw = (
                    f"; password from `{_md(c.password_from)}` (set it yourself)"
                    if c.password_from
                    else ""
                )
                lines.append(
                    f"- `{c.conn_id}` ({c.conn_type}) from `{_md(c.source)}`: {details}{pw}"
                )
        params = [(d.dag_id, p) for d in self.dags for p in d.plan.params]
        if params:
            lines += ["", "## DAG params (from pipeline parameters)", ""]
            lines += [
                f"- `{dag_id}`: `{_md(p.id)}` = `{_md(repr(p.default))}` ({_md(str(p.schema['type']))})"
                for dag_id, p in params
            ]
        secrets = sorted({s for d in self.dags for s in d.plan.secrets})
        if secrets:
            lines += ["", "## Variables to create (secret parameters)", ""]
            lines += [f"- `{_md(s)}`" for s in secrets]
        for title, items in (("TODO", self.todos), ("Assumptions", self.assumptions)):
            if items:
                lines += ["", f"## {title}", ""]
                lines += [f"- `{_md(o)}`: {_md(m)}" for o, m in items]
        missing = [p.id for d in self.dags for p in d.plan.params if p.default is None]
        if missing:
            lines += [
                "",
                "## Parameters without a value (give a default or pass them at trigger)",
                "",
            ]
            lines += [f"- `{_md(p)}`" for p in missing]
        if self.unused_parameters:
            lines += ["", "## Parameters used neither by a task nor by a connection", ""]
            lines += [f"- `{_md(p)}`" for p in self.unused_parameters]
        if self.repairs:
            lines += ["", "## Input repaired", ""] + [f"- {_md(r)}" for r in self.repairs]
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Report text on one line, with Markdown table and code markers neutralised."""
    return (
        "".join(ch if ch.isprintable() else " " for ch in str(text))
        .replace("|", "\\|")
        .replace("`", "'")
    )
