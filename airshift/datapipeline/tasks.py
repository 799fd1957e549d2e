"""Pipeline objects as Airflow tasks: activities, preconditions, EMR clusters, alarms.

Why one builder per DAG: task ids must be unique within a DAG, EMR clusters are shared by
the activities that run on them, and preconditions attach to whichever activities consume
a node. The builder records every task with its pipeline object, so the report can say
what each object became.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airshift.datapipeline.connections import Connections
from airshift.datapipeline.jinja import Template, literal
from airshift.datapipeline.model import (
    DATABASE_TYPES,
    Pipeline,
    PipelineObject,
)
from airshift.datapipeline.pycode import Name, Symbol
from airshift.datapipeline.schedule import period_delta
from airshift.datapipeline.translate import Notes, Translator
from airshift.errors import AirshiftError

_STD = "airflow.providers.standard"
_AWS = "airflow.providers.amazon.aws"
BASH = Symbol(f"{_STD}.operators.bash", "BashOperator")
BASH_SENSOR = Symbol(f"{_STD}.sensors.bash", "BashSensor")
PYTHON_SENSOR = Symbol(f"{_STD}.sensors.python", "PythonSensor")
EMPTY = Symbol(f"{_STD}.operators.empty", "EmptyOperator")
SQL_EXECUTE = Symbol("airflow.providers.common.sql.operators.sql", "SQLExecuteQueryOperator")
SQL_SENSOR = Symbol("airflow.providers.common.sql.sensors.sql", "SqlSensor")
S3_COPY_OBJECT = Symbol(f"{_AWS}.operators.s3", "S3CopyObjectOperator")
S3_COPY_PREFIX = Symbol(f"{_AWS}.operators.s3", "S3CopyPrefixOperator")
S3_KEY_SENSOR = Symbol(f"{_AWS}.sensors.s3", "S3KeySensor")
SQL_TO_S3 = Symbol(f"{_AWS}.transfers.sql_to_s3", "SqlToS3Operator")
S3_TO_SQL = Symbol(f"{_AWS}.transfers.s3_to_sql", "S3ToSqlOperator")
S3_TO_REDSHIFT = Symbol(f"{_AWS}.transfers.s3_to_redshift", "S3ToRedshiftOperator")
REDSHIFT_TO_S3 = Symbol(f"{_AWS}.transfers.redshift_to_s3", "RedshiftToS3Operator")
EMR_CREATE = Symbol(f"{_AWS}.operators.emr", "EmrCreateJobFlowOperator")
EMR_ADD_STEPS = Symbol(f"{_AWS}.operators.emr", "EmrAddStepsOperator")
EMR_TERMINATE = Symbol(f"{_AWS}.operators.emr", "EmrTerminateJobFlowOperator")
EMR_STEP_SENSOR = Symbol(f"{_AWS}.sensors.emr", "EmrStepSensor")
SNS_NOTIFIER = Symbol(f"{_AWS}.notifications.sns", "SnsNotifier")
DEADLINE_ALERT = Symbol("airflow.sdk", "DeadlineAlert")
DEADLINE_REFERENCE = Symbol("airflow.sdk", "DeadlineReference")
ASYNC_CALLBACK = Symbol("airflow.sdk", "AsyncCallback")

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


class TaskBuilder:
    """Builds the tasks and edges of one DAG from its activities."""

    def __init__(
        self, pipeline: Pipeline, tr: Translator, notes: Notes, connections: Connections
    ) -> None:
        self.p = pipeline
        self.tr = tr
        self.notes = notes
        self.connections = connections
        self.tasks: dict[str, TaskSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.chains: dict[str, Chain] = {}
        self.clusters: dict[str, tuple[str, str]] = {}  # cluster id -> (create, terminate)
        self.cluster_tasks: dict[str, set[str]] = {}  # cluster id -> all its tasks
        self.sensors: dict[tuple[str, str], str] = {}
        self.finished: set[str] = set()
        self.helpers: set[str] = set()
        self.extra_params: dict[str, str] = {}
        self.min_amazon: str = "9.0.0"
        self.late: list[tuple[PipelineObject, str | None, list[PipelineObject]]] = []

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
        if (retries := self.p.string(obj, "maximumRetries")) is not None:
            if not retries.strip().isdigit():
                raise AirshiftError(f"{where} 'maximumRetries': {retries!r} is not a whole number.")
            kwargs["retries"] = int(retries)
        for key, arg in (("retryDelay", "retry_delay"), ("attemptTimeout", "execution_timeout")):
            if (text := self.p.string(obj, key)) is not None:
                delta = period_delta(text, f"{where} {key!r}", self.notes, obj.id)
                kwargs[arg] = Symbol("datetime").attr("timedelta")(
                    seconds=int(delta.total_seconds())
                )
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
            kwargs["max_active_tis_per_dag"] = int(self.p.string(obj, "maxActiveInstances") or "1")
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
                            interval=Symbol("datetime").attr("timedelta")(
                                seconds=int(interval.total_seconds())
                            ),
                            callback=ASYNC_CALLBACK(
                                SNS_NOTIFIER, kwargs=self.notifier_kwargs(action, obj)
                            ),
                        )
                    )
                elif kind != "SnsAlarm":
                    self.notes.todo(
                        obj.id,
                        f"onLateAction {action.id!r} ({kind}) has no Airflow equivalent; a late run "
                        "is not cancelled (dagrun_timeout is the nearest setting).",
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

    def finish(self, task_id: str, obj: PipelineObject) -> None:
        self.finished.add(task_id)
        self.tasks[task_id].kwargs |= self.runnable_kwargs(obj)
        self.p.get(obj, "runsOn")  # an Ec2Resource is reported once, as an assumption
        if (group := self.p.string(obj, "workerGroup")) and not self.p.has(obj, "runsOn"):
            self.tasks[task_id].kwargs["queue"] = group
            self.todo(
                task_id,
                f"workerGroup {group!r} became queue={group!r}: a worker must listen on it "
                "(CeleryExecutor), or run the work over SSH.",
            )

    # -- activities ---------------------------------------------------------------------
    def activity(self, obj: PipelineObject) -> Chain:
        kind = self.p.type_of(obj) or ""
        handler: Callable[[PipelineObject], Chain] = getattr(self, f"_{kind}")
        chain = handler(obj)
        self.chains[obj.id] = chain
        return chain

    def _ShellCommandActivity(self, obj: PipelineObject) -> Chain:
        cluster = self._emr_cluster(obj)
        if cluster is not None:
            if self.p.string(obj, "stage") == "true":
                self.notes.todo(
                    obj.id, "stage=true on EMR is not emulated; copy inputs in the command."
                )
            return self._emr(obj, [self._shell_step(obj, obj.name)])
        script = self.shell_script(obj, obj, stage=True)
        task_id = self.add(obj.id, BASH, obj, **script)
        self.finish(task_id, obj)
        return Chain(task_id, task_id)

    def shell_script(
        self, obj: PipelineObject, node: PipelineObject, stage: bool
    ) -> dict[str, Any]:
        """``bash_command``/``env`` for a command or scriptUri, with arguments and staging.

        Arguments and S3 locations travel in environment variables, so whatever they render
        to (quotes, spaces, ``$``) reaches the script unchanged.
        """
        command = self.tr.field(obj, "command", node)
        script_uri = self.tr.field(obj, "scriptUri", node)
        if (command is None) == (script_uri is None):
            raise AirshiftError(f"object {obj.id!r}: set exactly one of 'command' or 'scriptUri'.")
        env: dict[str, str] = {}
        lines: list[str] = []
        args = self.tr.fields(obj, "scriptArgument", node)
        for index, arg in enumerate(args, 1):
            env[f"DP_ARG_{index}"] = arg.render()
        if args:
            lines.append("set -- " + " ".join(f'"$DP_ARG_{i}"' for i in range(1, len(args) + 1)))
        inputs, outputs = [], []
        if stage and self.p.string(obj, "stage") == "true":
            inputs = [n for n in self.p.refs(obj, "input") if self.p.type_of(n) == "S3DataNode"]
            outputs = [n for n in self.p.refs(obj, "output") if self.p.type_of(n) == "S3DataNode"]
        for index, data in enumerate(inputs, 1):
            location, is_dir = self.s3_location(data)
            env[f"DP_INPUT{index}_URI"] = location.render()
            recursive = "--recursive " if is_dir else ""
            lines += [
                f'export INPUT{index}_STAGING_DIR="$(mktemp -d)"',
                f'aws s3 cp {recursive}"$DP_INPUT{index}_URI" "$INPUT{index}_STAGING_DIR/"',
            ]
        for index in range(1, len(outputs) + 1):
            lines.append(f'export OUTPUT{index}_STAGING_DIR="$(mktemp -d)"')
        if script_uri is not None:
            env["DP_SCRIPT_URI"] = script_uri.render()
            body = 'dp_script="$(mktemp)"\naws s3 cp "$DP_SCRIPT_URI" "$dp_script"\nbash "$dp_script" "$@"'
        else:
            body = command.render()  # type: ignore[union-attr]
        if outputs:
            lines = ["set -e", *lines, "set +e", "(", body, ")", "dp_status=$?"]
            lines += ['[ "$dp_status" -eq 0 ] || exit "$dp_status"', "set -e"]
            for index, data in enumerate(outputs, 1):
                location, _ = self.s3_location(data)
                env[f"DP_OUTPUT{index}_URI"] = location.render()
                lines.append(
                    f'aws s3 cp --recursive "$OUTPUT{index}_STAGING_DIR/" "$DP_OUTPUT{index}_URI"'
                )
        elif inputs:
            lines = ["set -e", *lines, "set +e", body]
        else:
            lines.append(body)
        bash = "\n".join(lines)
        if bash.rstrip().endswith((".sh", ".bash")):
            bash += " "  # BashOperator would otherwise load it as a template file
        result: dict[str, Any] = {"bash_command": bash}
        if env:
            result |= {"env": env, "append_env": True}
        return result

    def _CopyActivity(self, obj: PipelineObject) -> Chain:
        create = None
        source, target = self.require_ref(obj, "input"), self.require_ref(obj, "output")
        kinds = (self.p.type_of(source), self.p.type_of(target))
        sql_nodes = ("SqlDataNode", "MySqlDataNode")
        if kinds == ("S3DataNode", "S3DataNode"):
            (src, src_dir), (dst, dst_dir) = self.s3_location(source), self.s3_location(target)
            if src_dir or dst_dir:
                self.min_amazon = max(self.min_amazon, "9.32.0", key=_version)
                sb, sk = self.s3_split(src)
                db, dk = self.s3_split(dst)
                task_id = self.add(
                    obj.id,
                    S3_COPY_PREFIX,
                    obj,
                    source_bucket_name=sb,
                    source_bucket_prefix=sk,
                    dest_bucket_name=db,
                    dest_bucket_prefix=dk,
                )
            else:
                task_id = self.add(
                    obj.id,
                    S3_COPY_OBJECT,
                    obj,
                    source_bucket_key=src.render(),
                    dest_bucket_key=dst.render(),
                )
            self._data_format_note(obj, source, target)
        elif kinds[0] in sql_nodes and kinds[1] == "S3DataNode":
            location, _ = self.s3_location(target)
            bucket, key = self.s3_split(location)
            task_id = self.add(
                obj.id,
                SQL_TO_S3,
                obj,
                query=_sql_text(self.select_query(source)),
                sql_conn_id=self.node_connection(source),
                s3_bucket=bucket,
                s3_key=key,
                file_format="csv",
                replace=True,
            )
        elif kinds[0] == "S3DataNode" and kinds[1] in sql_nodes:
            location, _ = self.s3_location(source)
            bucket, key = self.s3_split(location)
            self.helpers.add("parse_csv")
            task_id = self.add(
                obj.id,
                S3_TO_SQL,
                obj,
                s3_bucket=bucket,
                s3_key=key,
                table=self.require(target, "table").render(),
                parser=Name("parse_csv"),
                sql_conn_id=self.node_connection(target),
            )
            self.finish(task_id, obj)
            create = self.create_table(obj, target)
            if self.p.has(target, "insertQuery"):
                self.todo(
                    task_id,
                    f"insertQuery of {target.id!r} is not applied; rows are inserted as-is.",
                )
        else:
            task_id = self.placeholder(
                obj, f"CopyActivity from {kinds[0]} to {kinds[1]} is not supported"
            )
        if task_id not in self.finished:
            self.finish(task_id, obj)
        if create is not None:
            self.edge(create, task_id)
        return Chain(create or task_id, task_id)

    def _SqlActivity(self, obj: PipelineObject) -> Chain:
        database = self.require_ref(obj, "database")
        script = self.tr.field(obj, "script")
        uri = self.tr.field(obj, "scriptUri")
        if (script is None) == (uri is None):
            raise AirshiftError(f"object {obj.id!r}: set exactly one of 'script' or 'scriptUri'.")
        if script is not None:
            sql = _sql_text(script.render())
        else:
            self.helpers.add("s3_text")
            sql = "{{ s3_text(" + uri.as_expr() + ") }}"  # type: ignore[union-attr]
            self.notes.assume(
                obj.id,
                "scriptUri is read from S3 when the task renders; DP expressions inside the script are not evaluated.",
            )
        kwargs: dict[str, Any] = {"conn_id": self.connections.for_object(database), "sql": sql}
        if args := self.tr.fields(obj, "scriptArgument"):
            kwargs["parameters"] = [a.render() for a in args]
        task_id = self.add(obj.id, SQL_EXECUTE, obj, **kwargs)
        if self.p.has(obj, "queue"):
            self.todo(
                task_id, "queue (Redshift query group) is not set; add SET query_group to the SQL."
            )
        self.finish(task_id, obj)
        return Chain(task_id, task_id)

    def _RedshiftCopyActivity(self, obj: PipelineObject) -> Chain:
        create = None
        source, target = self.require_ref(obj, "input"), self.require_ref(obj, "output")
        kinds = (self.p.type_of(source), self.p.type_of(target))
        mode = (self.p.string(obj, "insertMode") or "").upper()
        if not mode:
            raise AirshiftError(
                f"object {obj.id!r} field 'insertMode' is required for RedshiftCopyActivity."
            )
        options = [t.render() for t in self.tr.fields(obj, "commandOptions")]
        if kinds == ("S3DataNode", "RedshiftDataNode"):
            location, _ = self.s3_location(source)
            bucket, key = self.s3_split(location)
            method = {
                "APPEND": "APPEND",
                "TRUNCATE": "REPLACE",
                "OVERWRITE_EXISTING": "UPSERT",
                "KEEP_EXISTING": "APPEND",
            }.get(mode)
            if method is None:
                raise AirshiftError(f"object {obj.id!r} field 'insertMode': unknown mode {mode!r}.")
            kwargs: dict[str, Any] = {
                "schema": self.render(target, "schemaName") or "public",
                "table": self.require(target, "tableName").render(),
                "s3_bucket": bucket,
                "s3_key": key,
                "redshift_conn_id": self.node_connection(target),
                "method": method,
            }
            if options or self.p.has(source, "dataFormat"):
                kwargs["copy_options"] = options or self.format_options(source)
            keys = [t.render() for t in self.tr.fields(target, "primaryKeys")]
            if keys and method == "UPSERT":
                kwargs["upsert_keys"] = keys
            task_id = self.add(obj.id, S3_TO_REDSHIFT, obj, **kwargs)
            self.finish(task_id, obj)
            create = self.create_table(obj, target)
            if mode == "KEEP_EXISTING":
                self.todo(
                    task_id,
                    "insertMode KEEP_EXISTING has no operator mode; APPEND is used, which may duplicate rows.",
                )
        elif kinds == ("RedshiftDataNode", "S3DataNode"):
            location, _ = self.s3_location(target)
            bucket, key = self.s3_split(location)
            task_id = self.add(
                obj.id,
                REDSHIFT_TO_S3,
                obj,
                s3_bucket=bucket,
                s3_key=key,
                schema=self.render(source, "schemaName") or "public",
                table=self.require(source, "tableName").render(),
                redshift_conn_id=self.node_connection(source),
                unload_options=options,
            )
        elif kinds == ("DynamoDBDataNode", "RedshiftDataNode"):
            table = self.require(target, "tableName")
            schema = self.tr.field(target, "schemaName") or Template.text("public")
            ratio = self.p.string(source, "readThroughputPercent")
            copy = (
                Template.text("COPY ")
                + schema
                + "."
                + table
                + " FROM 'dynamodb://"
                + self.require(source, "tableName")
                + "' IAM_ROLE '"
            ).render()
            copy += "{{ var.value.get('redshift_copy_iam_role') }}'"
            if ratio:
                copy += f" READRATIO {int(float(ratio) * 100)}"
            if options:
                copy += " " + " ".join(options)
            statements = [copy + ";"]
            if mode == "TRUNCATE":
                statements.insert(
                    0, (Template.text("TRUNCATE TABLE ") + schema + "." + table).render() + ";"
                )
            task_id = self.add(
                obj.id, SQL_EXECUTE, obj, conn_id=self.node_connection(target), sql=statements
            )
            self.todo(
                task_id,
                "set the Airflow Variable 'redshift_copy_iam_role' to an IAM role Redshift can assume.",
            )
            if mode in ("OVERWRITE_EXISTING", "KEEP_EXISTING"):
                self.todo(
                    task_id,
                    f"insertMode {mode} needs a staging table and a merge; the COPY appends.",
                )
        else:
            task_id = self.placeholder(
                obj, f"RedshiftCopyActivity from {kinds[0]} to {kinds[1]} is not supported"
            )
        if self.p.has(obj, "transformSql"):
            self.todo(
                task_id,
                "transformSql is not applied; load into a staging table and run it with SQLExecuteQueryOperator.",
            )
        if self.p.has(obj, "queue"):
            self.todo(task_id, "queue (Redshift query group) is not set.")
        if task_id not in self.finished:
            self.finish(task_id, obj)
        if create is not None:
            self.edge(create, task_id)
        return Chain(create or task_id, task_id)

    def create_table(self, obj: PipelineObject, node: PipelineObject) -> str | None:
        """DP creates a missing target table from ``createTableSql`` before loading."""
        sql = self.tr.field(node, "createTableSql")
        if sql is None:
            return None
        return self.add(
            f"{obj.id}__create_table",
            SQL_EXECUTE,
            node,
            display=f"{node.name} (create table)",
            conn_id=self.node_connection(node),
            sql=_sql_text(sql.render()),
        )

    def _EmrActivity(self, obj: PipelineObject) -> Chain:
        steps = []
        for text in self.p.strings(obj, "preStepCommand"):
            steps.append(
                self._bash_step(
                    obj.name + " (pre)",
                    self.tr.text(obj, text, f"object {obj.id!r} field 'preStepCommand'"),
                )
            )
        raw_steps = self.p.strings(obj, "step")
        if not raw_steps:
            raise AirshiftError(f"object {obj.id!r} field 'step' is required for EmrActivity.")
        for index, text in enumerate(raw_steps, 1):
            where = f"object {obj.id!r} field 'step'"
            parts = [
                self.tr.text(obj, piece, where).render() for piece in split_unescaped(text, where)
            ]
            steps.append(_step(f"{obj.name} step {index}", parts[0], parts[1:]))
        for text in self.p.strings(obj, "postStepCommand"):
            steps.append(
                self._bash_step(
                    obj.name + " (post)",
                    self.tr.text(obj, text, f"object {obj.id!r} field 'postStepCommand'"),
                )
            )
        for key in ("resizeClusterBeforeRunning", "resizeClusterMaxInstances"):
            if self.p.has(obj, key):
                self.notes.todo(
                    obj.id, f"{key} is not converted; size the cluster in its job_flow_overrides."
                )
        return self._emr(obj, steps)

    def _HadoopActivity(self, obj: PipelineObject) -> Chain:
        args = [t.render() for t in self.tr.fields(obj, "argument")]
        if queue := self.render(obj, "hadoopQueue"):
            args = [f"-Dmapreduce.job.queuename={queue}", *args]
        jar = self.require(obj, "jarUri").render()
        step = _step(obj.name, jar, args)
        if main := self.render(obj, "mainClass"):
            step["HadoopJarStep"]["MainClass"] = main
        steps = [*self._script_configs(obj, "preActivityTaskConfig"), step]
        steps += self._script_configs(obj, "postActivityTaskConfig")
        return self._emr(obj, steps)

    def _HiveActivity(self, obj: PipelineObject) -> Chain:
        variables = [t.render() for t in self.tr.fields(obj, "scriptVariable")]
        define = [x for v in variables for x in ("-d", v)]
        script, uri = self.tr.field(obj, "hiveScript"), self.tr.field(obj, "scriptUri")
        if (script is None) == (uri is None):
            raise AirshiftError(
                f"object {obj.id!r}: set exactly one of 'hiveScript' or 'scriptUri'."
            )
        if uri is not None:
            args = ["hive-script", "--run-hive-script", "--args", "-f", uri.render(), *define]
        else:
            args = ["hive", *define, "-e", script.render()]  # type: ignore[union-attr]
        chain = self._emr(obj, [_step(obj.name, "command-runner.jar", args)])
        if self.p.string(obj, "stage") != "false" and (
            self.p.has(obj, "input") or self.p.has(obj, "output")
        ):
            self.todo(
                chain.entry,
                "staged Hive tables ${input1}/${output1} are not created; add CREATE EXTERNAL TABLE statements for the data nodes.",
            )
        return chain

    def _PigActivity(self, obj: PipelineObject) -> Chain:
        variables = [t.render() for t in self.tr.fields(obj, "scriptVariable")]
        define = [x for v in variables for x in ("-p", v)]
        script, uri = self.tr.field(obj, "script"), self.tr.field(obj, "scriptUri")
        if (script is None) == (uri is None):
            raise AirshiftError(f"object {obj.id!r}: set exactly one of 'script' or 'scriptUri'.")
        if uri is not None:
            args = ["pig-script", "--run-pig-script", "--args", "-f", uri.render(), *define]
        else:
            args = ["pig", *define, "-e", script.render()]  # type: ignore[union-attr]
        chain = self._emr(obj, [_step(obj.name, "command-runner.jar", args)])
        if self.p.string(obj, "stage") != "false" and (
            self.p.has(obj, "input") or self.p.has(obj, "output")
        ):
            self.todo(
                chain.entry,
                "staged Pig aliases ${INPUT1}/${OUTPUT1} are not defined; LOAD/STORE the data node paths in the script.",
            )
        return chain

    def _HiveCopyActivity(self, obj: PipelineObject) -> Chain:
        source, target = self.require_ref(obj, "input"), self.require_ref(obj, "output")
        where = self.tr.field(obj, "filterSql")
        hql = "INSERT OVERWRITE TABLE ${output1} SELECT * FROM ${input1}"
        if where is not None:
            hql += " WHERE " + where.render()
        chain = self._emr(obj, [_step(obj.name, "command-runner.jar", ["hive", "-e", hql + ";"])])
        ends = [self._describe(source), self._describe(target)]
        self.todo(
            chain.entry,
            f"HiveCopyActivity: define Hive tables input1 ({ends[0]}) and output1 ({ends[1]}) "
            "with DynamoDBStorageHandler / S3 locations before the INSERT.",
        )
        return chain

    def _describe(self, node: PipelineObject) -> str:
        if self.p.type_of(node) == "S3DataNode":
            return f"{node.id} at {self.s3_location(node)[0].render()}"
        if self.p.type_of(node) == "DynamoDBDataNode":
            return f"{node.id}: DynamoDB table {self.require(node, 'tableName').render()}"
        return node.id

    # -- EMR ----------------------------------------------------------------------------
    def _emr_cluster(self, obj: PipelineObject) -> PipelineObject | None:
        target = self.p.ref(obj, "runsOn")
        return target if target is not None and self.p.type_of(target) == "EmrCluster" else None

    def _shell_step(self, obj: PipelineObject, name: str) -> dict[str, Any]:
        args = [t.render() for t in self.tr.fields(obj, "scriptArgument")]
        if (uri := self.tr.field(obj, "scriptUri")) is not None:
            fetch = 'dp_script="$(mktemp)" && aws s3 cp "$0" "$dp_script" && bash "$dp_script" "$@"'
            return _step(name, "command-runner.jar", ["bash", "-c", fetch, uri.render(), *args])
        command = self.require(obj, "command").render()
        return _step(name, "command-runner.jar", ["bash", "-c", command, "dp-shell", *args])

    def _bash_step(self, name: str, command: Template) -> dict[str, Any]:
        return _step(name, "command-runner.jar", ["bash", "-c", command.render()])

    def _script_configs(self, obj: PipelineObject, key: str) -> list[dict[str, Any]]:
        steps = []
        for config in self.p.refs(obj, key):
            uri = self.require(config, "scriptUri").render()
            args = [t.render() for t in self.tr.fields(config, "scriptArgument")]
            fetch = 'dp_script="$(mktemp)" && aws s3 cp "$0" "$dp_script" && bash "$dp_script" "$@"'
            steps.append(
                _step(
                    f"{obj.name} ({key})", "command-runner.jar", ["bash", "-c", fetch, uri, *args]
                )
            )
        return steps

    def _emr(self, obj: PipelineObject, steps: list[dict[str, Any]]) -> Chain:
        """Add steps to the activity's cluster, then wait for the last one."""
        for step in steps[:-1]:
            step["ActionOnFailure"] = "CANCEL_AND_WAIT"  # a failed step cancels the rest
        cluster = self._emr_cluster(obj)
        if cluster is not None:
            create, _ = self.cluster(cluster)
            job_flow = "{{ ti.xcom_pull(task_ids=" + literal(create) + ") }}"
        else:
            self.extra_params["emr_job_flow_id"] = "id of the EMR cluster to run steps on"
            job_flow = "{{ params.emr_job_flow_id }}"
        add = self.add(obj.id, EMR_ADD_STEPS, obj, job_flow_id=job_flow, steps=steps)
        if cluster is None:
            self.todo(
                add,
                "no EmrCluster in runsOn: the steps go to the cluster given in params.emr_job_flow_id.",
            )
        self.finish(add, obj)
        wait = self.add(
            f"{obj.id}__wait",
            EMR_STEP_SENSOR,
            obj,
            display=f"{obj.name} (wait)",
            job_flow_id=job_flow,
            step_id="{{ ti.xcom_pull(task_ids=" + literal(add) + ")[-1] }}",
            mode="reschedule",
            poke_interval=60,
        )
        self.notes.assume(
            obj.id,
            "retries resubmit steps only when the add-steps task is cleared with its sensor.",
        )
        self.edge(add, wait)
        if cluster is not None:
            create, terminate = self.clusters[cluster.id]
            self.cluster_tasks[cluster.id] |= {add, wait}
            self.edge(create, add)
            self.edge(wait, terminate)
        return Chain(add, wait)

    def cluster(self, obj: PipelineObject) -> tuple[str, str]:
        """Create and teardown-terminate tasks for an EmrCluster, once per DAG."""
        if obj.id in self.clusters:
            return self.clusters[obj.id]
        overrides = self.job_flow_overrides(obj)
        create = self.add(
            f"create_{obj.id}",
            EMR_CREATE,
            obj,
            display=f"{obj.name} (create)",
            job_flow_overrides=overrides,
            emr_conn_id=None,
            wait_for_completion=True,
        )
        terminate = self.add(
            f"terminate_{obj.id}",
            EMR_TERMINATE,
            obj,
            display=f"{obj.name} (terminate)",
            job_flow_id="{{ ti.xcom_pull(task_ids=" + literal(create) + ") }}",
        )
        self.tasks[terminate].teardown_of = create
        self.edge(create, terminate)
        if after := self.p.string(obj, "terminateAfter"):
            self.todo(
                create,
                f"terminateAfter {after!r} is not enforced; the teardown terminates the cluster when the steps end.",
            )
        self.clusters[obj.id] = (create, terminate)
        self.cluster_tasks[obj.id] = {create, terminate}
        return create, terminate

    def job_flow_overrides(self, obj: PipelineObject) -> dict[str, Any]:
        r = lambda key: self.render(obj, key)  # noqa: E731
        flow: dict[str, Any] = {"Name": obj.name}
        if label := r("releaseLabel"):
            flow["ReleaseLabel"] = label
        elif ami := r("amiVersion"):
            flow["AmiVersion"] = ami
        else:
            self.notes.todo(
                obj.id, "no releaseLabel or amiVersion: set ReleaseLabel in job_flow_overrides."
            )
        if apps := self.tr.fields(obj, "applications"):
            flow["Applications"] = [{"Name": a.render()} for a in apps]
        flow["ServiceRole"] = r("role") or "EMR_DefaultRole"
        flow["JobFlowRole"] = r("resourceRole") or "EMR_EC2_DefaultRole"
        if log := r("pipelineLogUri"):
            flow["LogUri"] = log
        groups = []
        for role, prefix in (("MASTER", "master"), ("CORE", "core"), ("TASK", "task")):
            instance_type = r(f"{prefix}InstanceType")
            count = r(f"{prefix}InstanceCount") if prefix != "master" else "1"
            if role == "MASTER" and instance_type is None:
                instance_type = "m5.xlarge"
                self.notes.assume(obj.id, "masterInstanceType is unset; m5.xlarge assumed.")
            if instance_type is None and count is None:
                continue
            group: dict[str, Any] = {
                "Name": role.title(),
                "InstanceRole": role,
                "InstanceType": instance_type or "m5.xlarge",
                "InstanceCount": int(count) if count and count.isdigit() else (count or 1),
                "Market": "ON_DEMAND",
            }
            if bid := r(f"{prefix}InstanceBidPrice"):
                group |= {"Market": "SPOT", "BidPrice": bid}
            groups.append(group)
        instances: dict[str, Any] = {"InstanceGroups": groups, "KeepJobFlowAliveWhenNoSteps": True}
        for key, target in (
            ("keyPair", "Ec2KeyName"),
            ("subnetId", "Ec2SubnetId"),
            ("emrManagedMasterSecurityGroupId", "EmrManagedMasterSecurityGroup"),
            ("emrManagedSlaveSecurityGroupId", "EmrManagedSlaveSecurityGroup"),
            ("serviceAccessSecurityGroupId", "ServiceAccessSecurityGroup"),
        ):
            if value := r(key):
                instances[target] = value
        for key, target in (
            ("additionalMasterSecurityGroupIds", "AdditionalMasterSecurityGroups"),
            ("additionalSlaveSecurityGroupIds", "AdditionalSlaveSecurityGroups"),
        ):
            if values := self.tr.fields(obj, key):
                instances[target] = [v.render() for v in values]
        flow["Instances"] = instances
        actions = []
        for index, text in enumerate(self.p.strings(obj, "bootstrapAction"), 1):
            where = f"object {obj.id!r} field 'bootstrapAction'"
            parts = [
                self.tr.text(obj, p.strip(), where).render() for p in split_unescaped(text, where)
            ]
            actions.append(
                {
                    "Name": f"bootstrap {index}",
                    "ScriptBootstrapAction": {"Path": parts[0], "Args": parts[1:]},
                }
            )
        if actions:
            flow["BootstrapActions"] = actions
        configurations = [self.emr_configuration(c) for c in self.p.refs(obj, "configuration")]
        if scheduler := self.render(obj, "hadoopSchedulerType"):
            classes = {
                "PARALLEL_FAIR_SCHEDULING": "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fair.FairScheduler",
                "PARALLEL_CAPACITY_SCHEDULING": "org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler",
            }
            if scheduler in classes:
                configurations.append(
                    {
                        "Classification": "yarn-site",
                        "Properties": {"yarn.resourcemanager.scheduler.class": classes[scheduler]},
                    }
                )
        if configurations:
            flow["Configurations"] = configurations
        flow["VisibleToAllUsers"] = True
        return flow

    def emr_configuration(self, obj: PipelineObject) -> dict[str, Any]:
        config: dict[str, Any] = {"Classification": self.require(obj, "classification").render()}
        properties = {}
        for prop in self.p.refs(obj, "property"):
            properties[self.require(prop, "key").render()] = self.require(prop, "value").render()
        config["Properties"] = properties
        if nested := self.p.refs(obj, "configuration"):
            config["Configurations"] = [self.emr_configuration(c) for c in nested]
        return config

    # -- preconditions ------------------------------------------------------------------
    def precondition(self, precond: PipelineObject, node: PipelineObject) -> str:
        """A sensor (reschedule mode) checking ``precond`` for the object it guards."""
        if (precond.id, node.id) in self.sensors:
            return self.sensors[precond.id, node.id]
        raw_id = f"{precond.id}__{node.id}"
        kind = self.p.type_of(precond)
        common: dict[str, Any] = {"mode": "reschedule", "poke_interval": POKE_INTERVAL}
        if timeout := self.p.string(precond, "preconditionTimeout"):
            delta = period_delta(
                timeout,
                f"object {precond.id!r} field 'preconditionTimeout'",
                self.notes,
                precond.id,
            )
            common["timeout"] = int(delta.total_seconds())
        else:
            self.notes.assume(
                precond.id,
                "no preconditionTimeout: the sensor uses Airflow's default timeout (7 days).",
            )
        display = f"{precond.name} ({node.name})"
        if kind == "S3KeyExists":
            task_id = self.add(
                raw_id,
                S3_KEY_SENSOR,
                precond,
                display=display,
                bucket_key=self.require(precond, "s3Key", node).render(),
                **common,
            )
        elif kind == "S3PrefixNotEmpty":
            prefix = self.require(precond, "s3Prefix", node)
            task_id = self.add(
                raw_id,
                S3_KEY_SENSOR,
                precond,
                display=display,
                bucket_key=(prefix + "*").render(),
                wildcard_match=True,
                **common,
            )
        elif kind in ("DynamoDBTableExists", "DynamoDBDataExists"):
            helper = (
                "dynamodb_table_exists" if kind == "DynamoDBTableExists" else "dynamodb_has_items"
            )
            self.helpers.add(helper)
            task_id = self.add(
                raw_id,
                PYTHON_SENSOR,
                precond,
                display=display,
                python_callable=Name(helper),
                op_kwargs={"table_name": self.require(precond, "tableName", node).render()},
                **common,
            )
        elif kind == "ShellCommandPrecondition":
            task_id = self.add(
                raw_id,
                BASH_SENSOR,
                precond,
                display=display,
                **self.shell_script(precond, node, stage=False),
                **common,
            )
            task = self.tasks[task_id]
            task.kwargs.pop("append_env", None)
            if "env" in task.kwargs:
                self.todo(
                    task_id,
                    "BashSensor replaces the environment with env; add PATH etc. if the command needs them.",
                )
        else:  # Exists
            task_id = self._exists(raw_id, precond, node, display, common)
        self.tasks[task_id].kwargs |= self.runnable_kwargs(precond)
        self.sensors[precond.id, node.id] = task_id
        return task_id

    def _exists(
        self,
        raw_id: str,
        precond: PipelineObject,
        node: PipelineObject,
        display: str,
        common: dict[str, Any],
    ) -> str:
        kind = self.p.type_of(node)
        if kind == "S3DataNode":
            location, is_dir = self.s3_location(node)
            if is_dir:
                return self.add(
                    raw_id,
                    S3_KEY_SENSOR,
                    precond,
                    display=display,
                    bucket_key=(location + "*").render(),
                    wildcard_match=True,
                    **common,
                )
            return self.add(
                raw_id,
                S3_KEY_SENSOR,
                precond,
                display=display,
                bucket_key=location.render(),
                **common,
            )
        if kind == "DynamoDBDataNode":
            self.helpers.add("dynamodb_table_exists")
            return self.add(
                raw_id,
                PYTHON_SENSOR,
                precond,
                display=display,
                python_callable=Name("dynamodb_table_exists"),
                op_kwargs={"table_name": self.require(node, "tableName").render()},
                **common,
            )
        if kind in ("SqlDataNode", "MySqlDataNode", "RedshiftDataNode"):
            table = self.tr.field(node, "table") or self.require(node, "tableName")
            sql = (
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '"
                + table.render().replace("'", "''")
                + "'"
            )
            return self.add(
                raw_id,
                SQL_SENSOR,
                precond,
                display=display,
                conn_id=self.node_connection(node),
                sql=sql,
                **common,
            )
        task_id = self.placeholder(
            precond, f"Exists precondition on {kind} {node.id!r} has no sensor", raw_id
        )
        return task_id

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


def split_unescaped(text: str, where: str) -> list[str]:
    """Split DP ``"jar,arg1,arg2"`` on commas that are neither escaped nor inside ``#{}``."""
    parts, current, depth, index = [], [], 0, 0
    while index < len(text):
        ch = text[index]
        if ch == "\\" and text[index + 1 : index + 2] == ",":
            current.append(",")
            index += 2
            continue
        if text.startswith("#{", index):
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == "," and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        index += 1
    parts.append("".join(current))
    if not parts[0].strip():
        raise AirshiftError(f"{where}: {text!r} does not start with a jar.")
    return parts


def _step(name: str, jar: str, args: list[str]) -> dict[str, Any]:
    return {
        "Name": name,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": jar, "Args": args},
    }


def _sql_text(sql: str) -> str:
    """SQL that ends in ``.sql`` or ``.json`` would be read as a template file name."""
    return sql + " " if sql.rstrip().endswith((".sql", ".json", ".hql")) else sql


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))
