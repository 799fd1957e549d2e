"""From a validated pipeline to DAG plans: grouping by schedule and wiring dependencies.

Why here: dependencies come from three places (``dependsOn``, one activity's output being
another's input, and preconditions on activities or on their input nodes) and must be
combined exactly, fan-in and fan-out included, before any code is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from airshift.datapipeline.connections import Connections
from airshift.datapipeline.model import (
    ACTIVITY_TYPES,
    RESOURCE_TYPES,
    Pipeline,
    PipelineObject,
    Ref,
)
from airshift.datapipeline.schedule import ScheduleSpec, build_schedule
from airshift.datapipeline.tasks import TaskBuilder, TaskSpec, sanitize
from airshift.datapipeline.translate import Notes, Translator
from airshift.errors import AirshiftError

_STYLES = ("cron", "timeseries", "ondemand")


@dataclass
class ParamSpec:
    id: str
    default: Any
    schema: dict[str, Any]


@dataclass
class DagPlan:
    """Everything one generated DAG file contains."""

    dag_id: str
    schedule: ScheduleSpec
    tasks: list[TaskSpec]
    edges: list[tuple[str, str]]
    params: list[ParamSpec]
    helpers: set[str]
    activities: list[str]
    max_active_runs: int | None
    dagrun_timeout: dt.timedelta | None
    min_amazon: str
    deadlines: list[Any]
    secrets: list[str]
    dag_todos: list[str] = field(default_factory=list)


def _style(pipeline: Pipeline, obj: PipelineObject, notes: Notes) -> str:
    raw = pipeline.string(obj, "scheduleType")
    if raw is None:
        notes.assume(
            obj.id, "scheduleType is unset; DP's timeseries style (end of period) is used."
        )
        return "timeseries"
    style = raw.strip().lower()
    if style not in _STYLES:
        raise AirshiftError(
            f"object {obj.id!r} field 'scheduleType': {raw!r} is not cron, timeseries or ondemand."
        )
    return style


def plan_pipeline(
    pipeline: Pipeline,
    base_id: str,
    activation: dt.datetime,
    notes: Notes,
    ec2_strategy: str = "local",
) -> tuple[list[DagPlan], Connections]:
    """One plan per distinct (schedule, scheduleType) used by the activities."""
    activities = pipeline.of_types(ACTIVITY_TYPES)
    if not activities:
        raise AirshiftError(
            f"{pipeline.definition.source}: the pipeline has no activities to convert."
        )
    groups: dict[str, list[PipelineObject]] = {}
    specs: dict[str, ScheduleSpec] = {}
    for activity in activities:
        style = _style(pipeline, activity, notes)
        schedule = None if style == "ondemand" else pipeline.ref(activity, "schedule")
        spec = build_schedule(pipeline, schedule, style, activation, notes)
        specs.setdefault(spec.key, spec)
        groups.setdefault(spec.key, []).append(activity)
    connections = Connections(pipeline, notes)
    dag_ids = {
        key: base_id if len(groups) == 1 else f"{base_id}__{sanitize(key)}" for key in groups
    }
    dag_of = {a.id: dag_ids[key] for key, members in groups.items() for a in members}
    plans = [
        _plan_group(
            pipeline, dag_ids[key], specs[key], members, dag_of, notes, connections, ec2_strategy
        )
        for key, members in groups.items()
    ]
    if len(groups) > 1:
        notes.assume(
            "Default",
            f"activities use {len(groups)} different schedules: one DAG per schedule "
            f"({', '.join(p.dag_id for p in plans)}).",
        )
    _unconverted(pipeline, notes)
    _todos_into_code(plans, notes)
    return plans, connections


def _todos_into_code(plans: list[DagPlan], notes: Notes) -> None:
    """Every TODO of the report also appears in the code: on its task, else on the DAG.

    A TODO about an object that became no task (a connection, an unused field) goes to the
    DAG that uses the object's tasks, or to the first DAG.
    """
    on_tasks = {(t.source, m) for plan in plans for t in plan.tasks for m in t.todos}
    owner = {t.source: plan for plan in reversed(plans) for t in plan.tasks}
    for object_id, message in notes.todos:
        if (object_id, message) not in on_tasks:
            owner.get(object_id, plans[0]).dag_todos.append(f"{object_id}: {message}")


def _plan_group(
    pipeline: Pipeline,
    dag_id: str,
    spec: ScheduleSpec,
    activities: list[PipelineObject],
    dag_of: dict[str, str],
    notes: Notes,
    connections: Connections,
    ec2_strategy: str,
) -> DagPlan:
    tr = Translator(pipeline, spec.time, notes)
    builder = TaskBuilder(pipeline, tr, notes, connections, ec2_strategy)
    for activity in activities:
        builder.activity(activity)
    producers: dict[str, list[str]] = {}
    for activity in activities:
        for node in pipeline.refs(activity, "output"):
            producers.setdefault(node.id, []).append(activity.id)
    for activity in activities:
        entry = builder.chains[activity.id].entry
        for upstream in pipeline.refs(activity, "dependsOn"):
            if upstream.id in builder.chains:
                builder.edge(builder.chains[upstream.id].exit, entry)
            elif upstream.id in dag_of:
                notes.todo(
                    activity.id,
                    f"dependsOn {upstream.id!r}, which runs on another schedule, in DAG "
                    f"{dag_of[upstream.id]!r}. Data Pipeline does not define which run of that "
                    "schedule a run waits for, so no dependency was generated; once you choose "
                    "one, wait for it with ExternalTaskSensor (execution_date_fn) or make this "
                    "DAG consume an Asset the other one produces.",
                )
            else:
                notes.todo(
                    activity.id, f"dependsOn {upstream.id!r}, which is not an activity; ignored."
                )
        for precondition in pipeline.refs(activity, "precondition"):
            builder.edge(builder.precondition(precondition, activity), entry)
        for node in pipeline.refs(activity, "input"):
            for producer in producers.get(node.id, []):
                if producer != activity.id:
                    builder.edge(builder.chains[producer].exit, entry)
            for precondition in pipeline.refs(node, "precondition"):
                sensor = builder.precondition(precondition, node)
                builder.edge(sensor, entry)
                for producer in producers.get(node.id, []):
                    builder.edge(builder.chains[producer].exit, sensor)
    _resources_wait_for_upstream(builder)
    _check_acyclic(builder)
    builder.edges = _reduce(builder.edges)
    default = pipeline.default
    max_runs = None
    if default is not None and "maxActiveInstances" in default.fields:
        max_runs = pipeline.integer(default, "maxActiveInstances")
    elif spec.style == "ondemand":
        max_runs = 1
    deadlines = builder.deadline_alerts(spec.style)  # may use parameters: before _params
    plan = DagPlan(
        dag_id=dag_id,
        schedule=spec,
        tasks=list(builder.tasks.values()),
        edges=builder.edges,
        params=_params(pipeline, tr, builder.extra_params),
        helpers=builder.helpers,
        activities=[a.id for a in activities],
        max_active_runs=max_runs,
        dagrun_timeout=builder.dagrun_timeout,
        min_amazon=builder.min_amazon,
        deadlines=deadlines,
        secrets=tr.used_secrets,
    )
    for name in tr.used_secrets:
        plan.dag_todos.append(f"create the Airflow Variable {name!r} (a secret parameter).")
    return plan


def _resources_wait_for_upstream(builder: TaskBuilder) -> None:
    """DP launches a resource only when its first activity may run: create waits likewise."""
    for resource_id, (create, _) in builder.resources.items():
        own = builder.resource_tasks[resource_id]
        for up, down in list(builder.edges):
            if down in own and up not in own:
                builder.edge(up, create)


def _check_acyclic(builder: TaskBuilder) -> None:
    downstream: dict[str, list[str]] = {t: [] for t in builder.tasks}
    indegree = dict.fromkeys(builder.tasks, 0)
    for up, down in builder.edges:
        downstream[up].append(down)
        indegree[down] += 1
    ready = [t for t, n in indegree.items() if n == 0]
    while ready:
        for down in downstream[ready.pop()]:
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    stuck = sorted({builder.tasks[t].source for t, n in indegree.items() if n > 0})
    if stuck:
        raise AirshiftError(
            "dependencies form a cycle between objects "
            + ", ".join(repr(s) for s in stuck)
            + " (through dependsOn, input/output or preconditions)."
        )


def _reduce(edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop edges implied by a longer path: the same order, a graph a person can read."""
    downstream: dict[str, set[str]] = {}
    for up, down in edges:
        downstream.setdefault(up, set()).add(down)

    def reachable(start: str, goal: str, skip: tuple[str, str]) -> bool:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            for nxt in downstream.get(node, ()):
                if (node, nxt) == skip or nxt in seen:
                    continue
                if nxt == goal:
                    return True
                seen.add(nxt)
                stack.append(nxt)
        return False

    kept = []
    for edge in edges:
        if reachable(edge[0], edge[1], edge):
            downstream[edge[0]].discard(edge[1])
        else:
            kept.append(edge)
    return kept


def _params(pipeline: Pipeline, tr: Translator, extra: dict[str, str]) -> list[ParamSpec]:
    """``Param``s for the parameters the DAG uses; values override defaults."""
    values = pipeline.definition.values
    out = []
    for pid in tr.used_params:
        param = pipeline.definition.parameters[pid]
        json_type = {"Integer": "integer", "Double": "number"}.get(param.type, "string")
        default: Any = values.get(pid, param.default)
        if param.is_array:
            item = {"type": json_type}
            schema: dict[str, Any] = {"type": "array", "items": item}
            default = default if isinstance(default, list) or default is None else [default]
        else:
            schema = {"type": json_type}
            if isinstance(default, list):
                default = default[0] if default else None
            if default == "" and json_type != "string":
                default = None
            if default is not None and json_type != "string":
                try:
                    default = int(default) if json_type == "integer" else float(default)
                except ValueError as exc:
                    raise AirshiftError(
                        f"parameter {pid!r}: value {default!r} is not of type {param.type}."
                    ) from exc
        if param.allowed_values and not param.is_array:
            schema["enum"] = param.allowed_values
        if default is None or param.optional:
            schema["type"] = [schema["type"], "null"]
            schema.pop("enum", None) if default is None else None
        if param.description:
            schema["description"] = param.description
        out.append(ParamSpec(pid, default, schema))
    for pid, description in extra.items():
        out.append(ParamSpec(pid, "", {"type": "string", "description": description}))
    return out


def _unconverted(pipeline: Pipeline, notes: Notes) -> None:
    """Report every field nothing read: known-harmless ones as assumptions, others as TODOs."""
    referenced = {
        value.id
        for obj in pipeline.objects.values()
        for values in obj.fields.values()
        for value in values
        if isinstance(value, Ref)
    }
    for obj in pipeline.objects.values():
        kind = pipeline.type_of(obj)
        if kind == "Ec2Resource" and not any(
            holder == obj.id and key != "type" for holder, key in pipeline.read
        ):
            used = ", ".join(k for k in obj.fields if k != "type" and not k.startswith("my"))
            notes.assume(
                obj.id,
                f"Ec2Resource: its activities run on Airflow workers; not used: {used}.",
            )
            continue
        mode = obj.fields.get("failureAndRerunMode")
        if mode and isinstance(mode[0], str) and mode[0].lower() == "none":
            notes.assume(
                obj.id,
                "failureAndRerunMode none: Airflow still marks downstream tasks "
                "upstream_failed (DP's cascade behaviour).",
            )
        unread = [
            key
            for key in obj.fields
            if (obj.id, key) not in pipeline.read
            and key not in _SKIP
            and not key.startswith(("my", "*", "@"))
        ]
        if (
            kind is not None
            and kind != "Schedule"
            and unread
            and obj.id not in referenced
            and not any(holder == obj.id and key != "type" for holder, key in pipeline.read)
        ):
            notes.todo(obj.id, f"{kind} is not used by any activity; nothing was converted.")
            continue
        for key in unread:
            if kind in RESOURCE_TYPES:
                notes.assume(
                    obj.id, f"field {key!r} ignored: resource settings do not apply to tasks."
                )
            elif key in _WHY:
                notes.assume(obj.id, f"field {key!r} ignored: {_WHY[key]}.")
            else:
                notes.todo(obj.id, f"field {key!r} ignored: not converted.")


_SKIP = {"type", "parent", "schedule", "scheduleType", "failureAndRerunMode", "name"}
_WHY = {
    "pipelineLogUri": "Airflow keeps task logs itself (CloudWatch on MWAA)",
    "role": "Airflow calls AWS with the aws_default connection",
    "resourceRole": "work runs on Airflow workers",
    "runsOn": "work runs on Airflow workers",
    "reportProgressTimeout": "Airflow has no per-task heartbeat timeout",
    "dataFormat": "record formats are not converted",
    "column": "record formats are not converted",
}
