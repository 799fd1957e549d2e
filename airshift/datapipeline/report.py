"""The conversion report: what each pipeline object became, and what still needs a person.

Why a report beside the code: a converted DAG is only trustworthy if every assumption and
every unconverted field is visible. The Markdown is for reviewers; ``--json`` is for tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airshift.datapipeline.connections import ConnectionSpec
from airshift.datapipeline.plan import DagPlan
from airshift.datapipeline.verify import Verification


@dataclass
class DagFile:
    dag_id: str
    filename: str
    code: str
    plan: DagPlan
    verification: Verification | None = None  # set when a real Airflow checked it

    @property
    def checked(self) -> str:
        return self.verification.summary if self.verification else "not checked by Airflow"


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
    untemplated_parameters: dict[str, str] = field(default_factory=dict)  # id -> why
    origin: dict[str, Any] = field(default_factory=dict)  # pipeline id, name, state, tags

    @property
    def status(self) -> str:
        """``clean`` or ``todos``: whether a person must still finish the conversion."""
        return "todos" if self.todos else "clean"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "origin": self.origin,
            "status": self.status,
            "dags": [
                {
                    "dag_id": d.dag_id,
                    "file": d.filename,
                    "schedule": d.plan.schedule.summary,
                    "tasks": [t.task_id for t in d.plan.tasks],
                    "params": {p.id: {"default": p.default, **p.schema} for p in d.plan.params},
                    "variables": d.plan.secrets,
                    "checked": d.checked,
                    "verification": d.verification.to_json() if d.verification else None,
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
            "parameters_no_template_reads": self.untemplated_parameters,
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
        if self.origin:
            lines += [f"- {key}: {_md(str(value))}" for key, value in self.origin.items()]
        lines.append(f"- status: {self.status} ({len(self.todos)} TODO(s))")
        for d in self.dags:
            lines += [
                f"- DAG `{d.dag_id}` -> `{d.filename}`: {_md(d.plan.schedule.summary)}, "
                f"{len(d.plan.tasks)} task(s); {_md(d.checked)}",
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
        if self.untemplated_parameters:
            lines += ["", "## Parameters no template reads", ""]
            lines += [f"- `{_md(p)}`: {why}" for p, why in self.untemplated_parameters.items()]
        if self.repairs:
            lines += ["", "## Input repaired", ""] + [f"- {_md(r)}" for r in self.repairs]
        for d in self.dags:
            if d.verification is not None and not d.verification.ok and d.verification.detail:
                lines += ["", f"## Why the check of `{d.dag_id}` failed", "", "```text"]
                lines += [_fenced(line) for line in d.verification.detail.splitlines()]
                lines.append("```")
        return "\n".join(lines) + "\n"


def _fenced(line: str) -> str:
    """A log line inside a fenced block: printable, and unable to close the fence."""
    text = "".join(ch if ch.isprintable() else " " for ch in line)
    return text.replace("```", "` ` `")


def _md(text: str) -> str:
    """Report text on one line, with Markdown table and code markers neutralised."""
    return (
        "".join(ch if ch.isprintable() else " " for ch in str(text))
        .replace("|", "\\|")
        .replace("`", "'")
    )


@dataclass
class PipelineOutcome:
    """One pipeline of a many-pipeline conversion: its result, or why it did not convert."""

    source: str
    origin: dict[str, Any]
    result: ConversionResult | None = None
    error: str | None = None
    skipped: bool = False  # a file in a folder that holds no pipeline objects

    @property
    def status(self) -> str:
        """``clean``, ``todos``, ``failed`` or ``skipped``."""
        if self.skipped:
            return "skipped"
        return "failed" if self.result is None else self.result.status

    @property
    def why(self) -> str:
        if self.result is None:
            return self.error or "not converted"
        if not self.result.todos:
            return "converted cleanly"
        objects = sorted({o for o, _ in self.result.todos})
        return f"{len(self.result.todos)} TODO(s) on {', '.join(objects)}"


@dataclass
class Summary:
    """The one report over many pipelines (``datapipeline://`` converts a whole account)."""

    title: str
    outcomes: list[PipelineOutcome]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("clean", "todos", "failed", "skipped"), 0)
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "counts": self.counts(),
            "pipelines": [
                {
                    "source": o.source,
                    **o.origin,
                    "status": o.status,
                    "why": o.why,
                    "dags": [
                        {"dag_id": d.dag_id, "file": d.filename, "checked": d.checked}
                        for d in (o.result.dags if o.result else [])
                    ],
                    "parameters_no_template_reads": (
                        o.result.untemplated_parameters if o.result else {}
                    ),
                }
                for o in self.outcomes
            ],
        }

    def to_markdown(self) -> str:
        counts = self.counts()
        lines = [
            f"# {_md(self.title)}",
            "",
            f"{len(self.outcomes)} pipeline(s): {counts['clean']} converted cleanly, "
            f"{counts['todos']} converted with TODOs, {counts['failed']} not converted.",
            "",
            "| Pipeline | Name | State | Status | DAGs (how far checked) | Why |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for o in self.outcomes:
            dags = "<br>".join(
                f"`{d.dag_id}` ({_md(d.checked)})" for d in (o.result.dags if o.result else [])
            )
            lines.append(
                f"| `{_md(o.source)}` | {_md(str(o.origin.get('pipeline name', '')))} | "
                f"{_md(str(o.origin.get('state', '')))} | {o.status} | {dags or '-'} | "
                f"{_md(o.why)} |"
            )
        untemplated = [
            (o.source, p, why)
            for o in self.outcomes
            if o.result
            for p, why in o.result.untemplated_parameters.items()
        ]
        if untemplated:
            lines += ["", "## Parameters no template reads", ""]
            lines += [f"- `{_md(s)}` `{_md(p)}`: {why}" for s, p, why in untemplated]
        return "\n".join(lines) + "\n"
