"""Hive tables and Pig relations for staged data nodes, built as Data Pipeline builds them.

Why: with ``stage`` on (the default), Data Pipeline defines ``${input1}``/``${output1}``
for a HiveActivity or PigActivity from the data nodes (their location and ``dataFormat``
columns), and a HiveCopyActivity always copies through tables it defines over DynamoDB
(``DynamoDBStorageHandler``) or S3. A script that uses them fails unless the converted
steps define them too, so the DDL (and the Pig LOAD/STORE) is generated here.
"""

from __future__ import annotations

from airshift.datapipeline.builder import BuilderCore, sanitize
from airshift.datapipeline.jinja import Template, sql_quoted
from airshift.datapipeline.model import PipelineObject

DYNAMODB_HANDLER = "org.apache.hadoop.hive.dynamodb.DynamoDBStorageHandler"
EXPORT_SERDE = "org.apache.hadoop.hive.dynamodb.DynamoDBExportSerDe"
_PIG_TYPES = {
    "STRING": "chararray",
    "VARCHAR": "chararray",
    "CHAR": "chararray",
    "INT": "int",
    "INTEGER": "int",
    "SMALLINT": "int",
    "TINYINT": "int",
    "BIGINT": "long",
    "FLOAT": "float",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "datetime",
}


class StagingTables(BuilderCore):
    """DDL for Hive tables and Pig LOAD/STORE statements over S3 and DynamoDB nodes."""

    def table_name(self, activity: PipelineObject, role: str) -> str:
        return f"dp_{sanitize(activity.id).lower()}_{role}"

    def columns(self, node: PipelineObject) -> list[tuple[str, str]]:
        fmt = self.p.ref(node, "dataFormat")
        if fmt is None:
            return []
        out = []
        for text in self.p.strings(fmt, "column"):
            name, _, kind = text.strip().partition(" ")
            out.append((name, kind.strip() or "STRING"))
        return out

    def _format_kind(self, node: PipelineObject) -> str | None:
        fmt = self.p.ref(node, "dataFormat")
        return self.p.type_of(fmt) if fmt is not None else None

    def hive_table(
        self, activity: PipelineObject, node: PipelineObject, name: str, copy: bool = False
    ) -> str | None:
        """``DROP``/``CREATE EXTERNAL TABLE`` for a node, or ``None`` with a TODO.

        ``copy``: for a HiveCopyActivity, whose S3 side without a ``dataFormat`` holds whole
        items in DynamoDB's export format.
        """
        kind, fmt = self.p.type_of(node), self._format_kind(node)
        if copy and fmt is None:
            fmt = "DynamoDBExportDataFormat"
        columns = self.columns(node)
        if kind == "DynamoDBDataNode":
            table = self.require(node, "tableName")
            cols = ", ".join(f"`{c}` {t}" for c, t in columns) or "item map<string,string>"
            props = [("dynamodb.table.name", table)]
            if columns:
                mapping = ",".join(f"{c}:{c}" for c, _ in columns)
                props.append(("dynamodb.column.mapping", Template.text(mapping)))
            for key, prop in (
                ("region", "dynamodb.region"),
                ("readThroughputPercent", "dynamodb.throughput.read.percent"),
                ("writeThroughputPercent", "dynamodb.throughput.write.percent"),
            ):
                if (value := self.tr.field(node, key)) is not None:
                    props.append((prop, value))
            stored = f"STORED BY '{DYNAMODB_HANDLER}' TBLPROPERTIES (" + ", ".join(
                f"'{k}' = '{sql_quoted(v).render()}'" for k, v in props
            )
            return self._ddl(name, cols, stored + ")")
        if kind == "S3DataNode":
            location, is_dir = self.s3_location(node)
            if not is_dir:
                self.notes.assume(
                    activity.id,
                    f"{node.id!r} is a file; its Hive table reads the whole folder it is in.",
                )
                whole = location.render()
                location = Template.text(whole[: whole.rfind("/") + 1])
            if fmt == "DynamoDBExportDataFormat":
                cols = ", ".join(f"`{c}` {t}" for c, t in columns) or "item map<string,string>"
                row = f"ROW FORMAT SERDE '{EXPORT_SERDE}'"
            elif not columns:
                self.todo_on(
                    activity,
                    f"{node.id!r} has no dataFormat columns; its staged Hive table is not "
                    "defined (DP needs the columns too).",
                )
                return None
            else:
                cols = ", ".join(f"`{c}` {t}" for c, t in columns)
                row = self._row_format(node, fmt)
            where = "LOCATION '" + sql_quoted(location).render() + "'"
            return self._ddl(name, cols, f"{row} {where}")
        self.todo_on(
            activity, f"{kind} {node.id!r} is not staged; create its Hive table in the script."
        )
        return None

    def _row_format(self, node: PipelineObject, fmt: str | None) -> str:
        data_format = self.p.ref(node, "dataFormat")
        if fmt == "RegEx" and data_format is not None:
            regex = sql_quoted(self.require(data_format, "inputRegEx")).render()
            return (
                "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe' "
                f"WITH SERDEPROPERTIES ('input.regex' = '{regex}')"
            )
        separator = {"TSV": "\\t"}.get(fmt or "", ",")
        if data_format is not None and (own := self.p.string(data_format, "columnSeparator")):
            separator = own.replace("'", "\\'")
        return f"ROW FORMAT DELIMITED FIELDS TERMINATED BY '{separator}'"

    @staticmethod
    def _ddl(name: str, columns: str, tail: str) -> str:
        return f"DROP TABLE IF EXISTS {name}; CREATE EXTERNAL TABLE {name} ({columns}) {tail};"

    def pig_load(self, node: PipelineObject, alias: str) -> str | None:
        """``alias = LOAD '<location>' USING PigStorage('<sep>') AS (...)`` for an S3 node."""
        if self.p.type_of(node) != "S3DataNode":
            return None
        location = self.s3_location(node)[0].render()
        schema = ", ".join(
            f"{c}:{_PIG_TYPES.get(t.upper(), 'bytearray')}" for c, t in self.columns(node)
        )
        as_clause = f" AS ({schema})" if schema else ""
        return f"{alias} = LOAD '{location}' USING {self._pig_storage(node)}{as_clause};"

    def pig_store(self, node: PipelineObject, alias: str) -> str | None:
        if self.p.type_of(node) != "S3DataNode":
            return None
        location = self.s3_location(node)[0].render()
        return f"STORE {alias} INTO '{location}' USING {self._pig_storage(node)};"

    def _pig_storage(self, node: PipelineObject) -> str:
        fmt = self._format_kind(node)
        data_format = self.p.ref(node, "dataFormat")
        if fmt == "RegEx" and data_format is not None:
            regex = self.require(data_format, "inputRegEx").render().replace("'", "\\'")
            return f"org.apache.pig.piggybank.storage.MyRegExLoader('{regex}')"
        separator = {"TSV": "\\t"}.get(fmt or "", ",")
        if data_format is not None and (own := self.p.string(data_format, "columnSeparator")):
            separator = own.replace("'", "\\'")
        return f"PigStorage('{separator}')"

    def todo_on(self, activity: PipelineObject, message: str) -> None:
        """A TODO about an activity whose tasks are not built yet (lands on the DAG)."""
        self.notes.todo(activity.id, message)
