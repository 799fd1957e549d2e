"""Shared state of one DAG's task building: ids, edges, retries, alarms and data nodes.

Why a core class: activities, EMR steps and preconditions are built by separate modules
(``activities``, ``emr``, ``preconditions``), but they share one task-id namespace, one
edge list and the same reading of retries, timeouts and alarms.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from airshift.datapipeline.connections import Connections
from airshift.datapipeline.jinja import Jinja, Template
from airshift.datapipeline.model import DATABASE_TYPES, Pipeline, PipelineObject
from airshift.datapipeline.operators import (
    ASYNC_CALLBACK,
    DEADLINE_ALERT,
    DEADLINE_REFERENCE,
    EMPTY,
    SNS_NOTIFIER,
)
from airshift.datapipeline.pycode import Symbol
from airshift.datapipeline.schedule import TIMEDELTA, period_delta
from airshift.datapipeline.translate import Notes, Translator
from airshift.errors import AirshiftError

POKE_INTERVAL = 300


@dataclass
class TaskSpec:
    """One task of the generated DAG."""

    task_id: str
    operator: Symbol
    kwargs: dict[str, Any]
    source: str
    todos: list[str] = field(default_factory=list)
    teardown_of: str | None = None


@dataclass
class Chain:
    """Where an object's tasks start and end, for wiring dependencies."""

    entry: str
    exit: str


def sanitize(raw: str) -> str:
    """An Airflow-safe id: accents folded to ASCII, anything else outside [A-Za-z0-9_] -> _."""
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_]", "_", ascii_text).strip("_")[:200] or "task"


class BuilderCore:
    """Task bookkeeping and the fields every runnable object shares (retries, alarms...)."""

    def __init__(
        self,
        pipeline: Pipeline,
        tr: Translator,
        notes: Notes,
        connections: Connections,
        ec2_strategy: str = "local",
    ) -> None:
        self.p = pipeline
        self.ec2_strategy = ec2_strategy
        self.tr = tr
        self.notes = notes
        self.connections = connections
        self.tasks: dict[str, TaskSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.chains: dict[str, Chain] = {}
        # EMR clusters and (with the ssm strategy) EC2 instances: id -> (create, terminate)
        self.resources: dict[str, tuple[str, str]] = {}
        self.resource_tasks: dict[str, set[str]] = {}  # resource id -> all its tasks
        self.sensors: dict[tuple[str, str], str] = {}
        self.helpers: set[str] = set()
        self.extra_params: dict[str, str] = {}
        self.min_amazon: str = "9.0.0"
        self.late: list[tuple[PipelineObject, str | None, list[PipelineObject]]] = []
        self.dagrun_timeout: dt.timedelta | None = None

    # -- bookkeeping --------------------------------------------------------------------
    def new_id(self, raw: str) -> str:
        base = sanitize(raw)
        task_id, n = base, 2
        while task_id in self.tasks:
            task_id, n = f"{base}_{n}", n + 1
        return task_id

    def add(self, raw_id: str, operator: Symbol, source: PipelineObject, **kwargs: Any) -> str:
        task_id = self.new_id(raw_id)
        kwargs = {
            "task_id": task_id,
            "task_display_name": kwargs.pop("display", source.name),
            **kwargs,
        }
        self.tasks[task_id] = TaskSpec(task_id, operator, kwargs, source.id)
        return task_id

    def todo(self, task_id: str, message: str) -> None:
        self.tasks[task_id].todos.append(message)
        self.notes.todo(self.tasks[task_id].source, message)

    def edge(self, up: str, down: str) -> None:
        if up != down and (up, down) not in self.edges:
            self.edges.append((up, down))

    def render(
        self, obj: PipelineObject, key: str, node: PipelineObject | None = None
    ) -> str | None:
        template = self.tr.field(obj, key, node)
        return template.render() if template is not None else None

    def renamed(self, obj: PipelineObject, names: dict[str, str]) -> dict[str, str]:
        """``{new: rendered value}`` of each ``{field: new}`` the object sets."""
        return {new: value for key, new in names.items() if (value := self.render(obj, key))}

    def renamed_lists(self, obj: PipelineObject, names: dict[str, str]) -> dict[str, list[str]]:
        """``{new: [rendered values]}`` of each repeatable ``{field: new}`` the object sets."""
        return {
            new: [v.render() for v in values]
            for key, new in names.items()
            if (values := self.tr.fields(obj, key))
        }

    def require(
        self, obj: PipelineObject, key: str, node: PipelineObject | None = None
    ) -> Template:
        template = self.tr.field(obj, key, node)
        if template is None:
            raise AirshiftError(
                f"object {obj.id!r} field {key!r} is required for {self.p.type_of(obj)}."
            )
        return template

    def require_ref(self, obj: PipelineObject, key: str) -> PipelineObject:
        target = self.p.ref(obj, key)
        if target is None:
            raise AirshiftError(
                f"object {obj.id!r} field {key!r} is required for {self.p.type_of(obj)}."
            )
        return target

    # -- common runnable fields ---------------------------------------------------------
    def runnable_kwargs(self, obj: PipelineObject) -> dict[str, Any]:
        """Retries, delays, timeouts and alarms: the per-attempt behaviour of an object."""
        kwargs: dict[str, Any] = {}
        where = f"object {obj.id!r} field"
        if (retries := self.p.integer(obj, "maximumRetries")) is not None:
            kwargs["retries"] = retries
        for key, arg in (("retryDelay", "retry_delay"), ("attemptTimeout", "execution_timeout")):
            if (text := self.p.string(obj, key)) is not None:
                delta = period_delta(text, f"{where} {key!r}", self.notes, obj.id)
                kwargs[arg] = TIMEDELTA(seconds=int(delta.total_seconds()))
        for key, arg in (("onFail", "on_failure_callback"), ("onSuccess", "on_success_callback")):
            notifiers = self.actions(obj, key)
            if notifiers:
                kwargs[arg] = notifiers
        if self.p.has(obj, "lateAfterTimeout") or self.p.has(obj, "onLateAction"):
            timeout = self.p.string(obj, "lateAfterTimeout")
            self.late.append((obj, timeout, self.p.refs(obj, "onLateAction")))
        own_max = next(
            (
                h
                for h in self.p.chain(obj)
                if h is not self.p.default and "maxActiveInstances" in h.fields
            ),
            None,
        )
        if own_max is not None:
            kwargs["max_active_tis_per_dag"] = self.p.integer(obj, "maxActiveInstances")
        return kwargs

    def deadline_alerts(self, style: str) -> list[Any]:
        """``lateAfterTimeout`` + ``onLateAction`` as DAG deadline alerts (Airflow >= 3.1).

        Deadlines are per DAG run, counted from the logical date (DP's scheduled start), so
        the smallest timeout of all objects is used; SnsAlarm actions become notifiers.
        """
        if not self.late:
            return []
        if style == "ondemand":
            for obj, _, _ in self.late:
                self.notes.assume(obj.id, "lateAfterTimeout does not apply to on-demand pipelines.")
            return []
        timed = [
            (
                period_delta(
                    text, f"object {obj.id!r} field 'lateAfterTimeout'", self.notes, obj.id
                ),
                obj,
            )
            for obj, text, _ in self.late
            if text is not None
        ]
        if not timed:
            for obj, _, _ in self.late:
                self.notes.todo(obj.id, "onLateAction without lateAfterTimeout is never triggered.")
            return []
        interval = min(delta for delta, _ in timed)
        if len({delta for delta, _ in timed}) > 1:
            self.notes.assume(
                timed[0][1].id,
                f"objects have different lateAfterTimeout values; the DAG deadline uses the "
                f"smallest ({interval}).",
            )
        alerts, seen = [], set()
        for obj, _, actions in self.late:
            for action in actions:
                kind = self.p.type_of(action)
                if kind == "SnsAlarm" and action.id not in seen:
                    seen.add(action.id)
                    alerts.append(
                        DEADLINE_ALERT(
                            reference=DEADLINE_REFERENCE.attr("DAGRUN_LOGICAL_DATE"),
                            interval=TIMEDELTA(seconds=int(interval.total_seconds())),
                            callback=ASYNC_CALLBACK(
                                SNS_NOTIFIER, kwargs=self.notifier_kwargs(action, obj)
                            ),
                        )
                    )
                elif kind == "Terminate":
                    self.dagrun_timeout = interval
                    self.notes.assume(
                        obj.id,
                        f"onLateAction {action.id!r} (Terminate) became dagrun_timeout={interval}: "
                        "it counts from the run's start, DP from the scheduled start, and it ends "
                        "the whole run rather than one object.",
                    )
                elif kind != "SnsAlarm":
                    self.notes.todo(
                        obj.id, f"onLateAction {action.id!r} ({kind}) is not converted."
                    )
        return alerts

    def notifier_kwargs(self, action: PipelineObject, node: PipelineObject) -> dict[str, Any]:
        self.p.get(action, "role")  # the AWS connection's credentials are used instead
        return {
            "target_arn": self.require(action, "topicArn", node).render(),
            "subject": self.render(action, "subject", node),
            "message": self.require(action, "message", node).render(),
        }

    def actions(self, obj: PipelineObject, key: str) -> list[Any]:
        out = []
        for action in self.p.refs(obj, key):
            kind = self.p.type_of(action)
            if kind == "SnsAlarm":
                out.append(SNS_NOTIFIER(**self.notifier_kwargs(action, obj)))
            else:
                self.notes.todo(
                    obj.id,
                    f"{key} action {action.id!r} ({kind}) has no Airflow callback equivalent.",
                )
        return out

    def own(self, obj: PipelineObject, task_ids: list[str], chain: Chain) -> None:
        """Give every task of one activity the activity's per-attempt behaviour.

        In Data Pipeline an activity fails when any part of it fails (a ``createTableSql``,
        an EMR step), and its ``onFail`` alarm fires; so each task carries the retries,
        timeouts and failure alarms. ``onSuccess`` fires once, when the last task succeeds.
        """
        kwargs = self.runnable_kwargs(obj)
        success = kwargs.pop("on_success_callback", None)
        self.p.get(obj, "runsOn")  # an Ec2Resource is reported once, as an assumption
        group = self.p.string(obj, "workerGroup")
        if group and not self.p.has(obj, "runsOn"):
            kwargs["queue"] = group
            self.todo(
                chain.exit,
                f"workerGroup {group!r} became queue={group!r}: a worker must listen on it "
                "(CeleryExecutor), or run the work over SSH.",
            )
        for task_id in task_ids:
            self.tasks[task_id].kwargs |= kwargs
        if success:
            self.tasks[chain.exit].kwargs["on_success_callback"] = success

    def shell_script(
        self, obj: PipelineObject, node: PipelineObject, stage: bool
    ) -> dict[str, Any]:
        """``bash_command``/``env``/``append_env`` for a BashOperator or BashSensor."""
        bash, env = self.shell_parts(obj, node, stage)
        result: dict[str, Any] = {"bash_command": bash}
        if env:
            result |= {"env": {k: v.render() for k, v in env.items()}, "append_env": True}
        return result

    def shell_parts(
        self, obj: PipelineObject, node: PipelineObject, stage: bool
    ) -> tuple[str, dict[str, Template]]:
        """The script for a command or scriptUri, with arguments and staging, plus its env.

        Arguments and S3 locations travel in environment variables, so whatever they render
        to (quotes, spaces, ``$``) reaches the script unchanged.
        """
        command = self.tr.field(obj, "command", node)
        script_uri = self.tr.field(obj, "scriptUri", node)
        if (command is None) == (script_uri is None):
            raise AirshiftError(f"object {obj.id!r}: set exactly one of 'command' or 'scriptUri'.")
        env: dict[str, Template] = {}
        lines: list[str] = []
        args = self.tr.fields(obj, "scriptArgument", node)
        for index, arg in enumerate(args, 1):
            env[f"DP_ARG_{index}"] = arg
        if args:
            lines.append("set -- " + " ".join(f'"$DP_ARG_{i}"' for i in range(1, len(args) + 1)))
        inputs, outputs = [], []
        if stage and self.p.string(obj, "stage") == "true":
            nodes = self.p.refs(obj, "input") + self.p.refs(obj, "output")
            inputs = [n for n in self.p.refs(obj, "input") if self.p.type_of(n) == "S3DataNode"]
            outputs = [n for n in self.p.refs(obj, "output") if self.p.type_of(n) == "S3DataNode"]
            for data in nodes:
                if self.p.type_of(data) != "S3DataNode":
                    self.notes.todo(
                        obj.id,
                        f"stage=true with {self.p.type_of(data)} {data.id!r}: only S3 nodes are "
                        "staged; export the table in the command.",
                    )
        for index, data in enumerate(inputs, 1):
            location, is_dir = self.s3_location(data)
            env[f"DP_INPUT{index}_URI"] = location
            recursive = "--recursive " if is_dir else ""
            lines += [
                f'export INPUT{index}_STAGING_DIR="$(mktemp -d)"',
                f'aws s3 cp {recursive}"$DP_INPUT{index}_URI" "$INPUT{index}_STAGING_DIR/"',
            ]
        for index in range(1, len(outputs) + 1):
            lines.append(f'export OUTPUT{index}_STAGING_DIR="$(mktemp -d)"')
        if script_uri is not None:
            env["DP_SCRIPT_URI"] = script_uri
            body = 'dp_script="$(mktemp)"\naws s3 cp "$DP_SCRIPT_URI" "$dp_script"\nbash "$dp_script" "$@"'
        else:
            body = command.render()  # type: ignore[union-attr]
        body = self._capture_output(obj, node, body, env)
        if outputs:
            lines = ["set -e", *lines, "set +e", "(", body, ")", "dp_status=$?"]
            lines += ['[ "$dp_status" -eq 0 ] || exit "$dp_status"', "set -e"]
            for index, data in enumerate(outputs, 1):
                location, _ = self.s3_location(data)
                env[f"DP_OUTPUT{index}_URI"] = location
                lines.append(
                    f'aws s3 cp --recursive "$OUTPUT{index}_STAGING_DIR/" "$DP_OUTPUT{index}_URI"'
                )
        elif inputs:
            lines = ["set -e", *lines, "set +e", body]
        else:
            lines.append(body)
        return "\n".join(lines), env

    def _capture_output(
        self, obj: PipelineObject, node: PipelineObject, body: str, env: dict[str, Template]
    ) -> str:
        """``stdout``/``stderr`` S3 paths: capture the streams, show them, upload them."""
        streams: list[tuple[str, int, Template]] = []
        for key, fd in (("stdout", 1), ("stderr", 2)):
            if (path := self.tr.field(obj, key, node)) is not None:
                streams.append((key, fd, path))
        if not streams:
            return body
        lines = [f'dp_{key}="$(mktemp)"' for key, _, _ in streams]
        lines += ["(", body, ") " + " ".join(f'{fd}> "$dp_{key}"' for key, fd, _ in streams)]
        lines.append("dp_rc=$?")
        for key, fd, path in streams:
            env[f"DP_{key.upper()}_URI"] = path
            lines.append(f'cat "$dp_{key}"' + (" >&2" if fd == 2 else ""))
            lines.append(f'aws s3 cp "$dp_{key}" "$DP_{key.upper()}_URI"')
        lines.append('[ "$dp_rc" -eq 0 ] || exit "$dp_rc"')
        return "\n".join(lines)

    # -- data nodes ---------------------------------------------------------------------
    def s3_location(self, node: PipelineObject) -> tuple[Template, bool]:
        if (path := self.tr.field(node, "filePath")) is not None:
            return path, False
        if (path := self.tr.field(node, "directoryPath")) is not None:
            return path, True
        if (path := self.tr.field(node, "manifestFilePath")) is not None:
            return path, False
        raise AirshiftError(
            f"object {node.id!r}: an S3DataNode needs 'filePath' or 'directoryPath'."
        )

    def s3_split(self, location: Template) -> tuple[str, str]:
        """Bucket and key of an ``s3://`` location, statically when the bucket is literal."""
        lead = location.startswith_static()
        match = re.match(r"s3n?://([^/]+)/", lead)
        if match:
            return match.group(1), location.drop_prefix(match.end()).render()
        whole = location.as_expr()
        return (
            "{{ (" + whole + ").split('/', 3)[2] }}",
            "{{ ((" + whole + ").split('/', 3) + [''])[3] }}",
        )

    def select_query(self, node: PipelineObject) -> str:
        table = self.require(node, "table")
        if (query := self.tr.field(node, "selectQuery")) is not None:
            return query.render()
        return "SELECT * FROM " + table.render()

    def node_connection(self, node: PipelineObject) -> str:
        database = self.p.ref(node, "database")
        if database is not None and self.p.type_of(database) in DATABASE_TYPES:
            return self.connections.for_object(database)
        if self.p.has(node, "connectionString"):
            return self.connections.for_object(node)
        raise AirshiftError(f"object {node.id!r} field 'database' is required to reach its table.")

    def format_options(self, node: PipelineObject) -> list[str]:
        data_format = self.p.ref(node, "dataFormat")
        kind = self.p.type_of(data_format) if data_format else None
        if kind == "CSV":
            return ["CSV"]
        if kind == "TSV":
            return ["DELIMITER '\\t'"]
        self.notes.todo(
            node.id, f"dataFormat {kind} has no COPY options; set copy_options by hand."
        )
        return []

    def _data_format_note(
        self, obj: PipelineObject, source: PipelineObject, target: PipelineObject
    ) -> None:
        a, b = self.p.ref(source, "dataFormat"), self.p.ref(target, "dataFormat")
        if (a and self.p.type_of(a)) != (b and self.p.type_of(b)):
            self.notes.todo(
                obj.id, "input and output data formats differ; the copy does not convert records."
            )

    def placeholder(self, obj: PipelineObject, why: str, raw_id: str | None = None) -> str:
        task_id = self.add(raw_id or obj.id, EMPTY, obj)
        self.todo(task_id, f"{why}; this EmptyOperator keeps its place in the graph.")
        return task_id


def in_folder(folder: Template, name: str) -> Template:
    """The location of file ``name`` in an S3 folder, with exactly one ``/`` between."""
    tail = folder.parts[-1] if folder.parts else ""
    if isinstance(tail, str):
        return folder + (name if tail.endswith("/") else "/" + name)
    # the folder ends in a run-time value, which may or may not end with a slash
    return Template([Jinja(f"({folder.as_expr()}).rstrip('/')"), "/" + name])


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))
