"""Preconditions as sensors in reschedule mode, one per (precondition, guarded object).

Why per guarded object: ``#{node.X}`` in a precondition means the activity or data node it
is attached to, so the same precondition can check different things for each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airshift.datapipeline.builder import POKE_INTERVAL, BuilderCore
from airshift.datapipeline.jinja import Template, sql_quoted
from airshift.datapipeline.model import PipelineObject
from airshift.datapipeline.operators import BASH_SENSOR, PYTHON_SENSOR, S3_KEY_SENSOR, SQL_SENSOR
from airshift.datapipeline.pycode import Name, Symbol
from airshift.datapipeline.schedule import period_delta


class PreconditionTasks(BuilderCore):
    """Sensors for the six precondition types."""

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

        def sensor(operator: Symbol, **kwargs: Any) -> str:
            """This precondition's sensor for ``node``: reschedule mode, its timeout."""
            return self.add(raw_id, operator, precond, display=display, **kwargs, **common)

        if kind == "S3KeyExists":
            task_id = sensor(
                S3_KEY_SENSOR, bucket_key=self.require(precond, "s3Key", node).render()
            )
        elif kind == "S3PrefixNotEmpty":
            prefix = self.require(precond, "s3Prefix", node)
            task_id = sensor(S3_KEY_SENSOR, bucket_key=(prefix + "*").render(), wildcard_match=True)
        elif kind in ("DynamoDBTableExists", "DynamoDBDataExists"):
            helper = (
                "dynamodb_table_exists" if kind == "DynamoDBTableExists" else "dynamodb_has_items"
            )
            self.helpers.add(helper)
            task_id = sensor(
                PYTHON_SENSOR,
                python_callable=Name(helper),
                op_kwargs={"table_name": self.require(precond, "tableName", node).render()},
            )
        elif kind == "ShellCommandPrecondition":
            task_id = sensor(BASH_SENSOR, **self.shell_script(precond, node, stage=False))
            task = self.tasks[task_id]
            task.kwargs.pop("append_env", None)
            if "env" in task.kwargs:
                self.todo(
                    task_id,
                    "BashSensor replaces the environment with env; add PATH etc. if the command needs them.",
                )
        else:  # Exists
            task_id = self._exists(raw_id, precond, node, sensor)
        self.tasks[task_id].kwargs |= self.runnable_kwargs(precond)
        self.sensors[precond.id, node.id] = task_id
        return task_id

    def _exists(
        self, raw_id: str, precond: PipelineObject, node: PipelineObject, sensor: Callable[..., str]
    ) -> str:
        kind = self.p.type_of(node)
        if kind == "S3DataNode":
            location, is_dir = self.s3_location(node)
            if is_dir:
                return sensor(
                    S3_KEY_SENSOR, bucket_key=(location + "*").render(), wildcard_match=True
                )
            return sensor(S3_KEY_SENSOR, bucket_key=location.render())
        if kind == "DynamoDBDataNode":
            self.helpers.add("dynamodb_table_exists")
            return sensor(
                PYTHON_SENSOR,
                python_callable=Name("dynamodb_table_exists"),
                op_kwargs={"table_name": self.require(node, "tableName").render()},
            )
        if kind in ("SqlDataNode", "MySqlDataNode", "RedshiftDataNode"):
            table = self.tr.field(node, "table") or self.require(node, "tableName")
            sql = (
                Template.text("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '")
                + sql_quoted(table)
                + "'"
            ).render()
            return sensor(SQL_SENSOR, conn_id=self.node_connection(node), sql=sql)
        task_id = self.placeholder(
            precond, f"Exists precondition on {kind} {node.id!r} has no sensor", raw_id
        )
        return task_id
