"""Activities that run on Airflow workers: shell commands, copies, SQL and Redshift loads.

Why here: these map to provider operators directly (Bash, S3 copy, SQL transfers,
Redshift COPY/UNLOAD). A ShellCommandActivity whose ``runsOn`` is an EmrCluster becomes an
EMR step instead, and one on an Ec2Resource runs through SSM with ``--ec2 ssm``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airshift.datapipeline.builder import Chain, in_folder, sanitize, version_key
from airshift.datapipeline.ec2 import Ec2Tasks
from airshift.datapipeline.emr import EmrTasks
from airshift.datapipeline.jinja import Template
from airshift.datapipeline.model import PipelineObject
from airshift.datapipeline.operators import (
    BASH,
    PYTHON,
    REDSHIFT_TO_S3,
    S3_COPY_OBJECT,
    S3_COPY_PREFIX,
    S3_TO_REDSHIFT,
    S3_TO_SQL,
    SQL_EXECUTE,
    SQL_TO_S3,
)
from airshift.datapipeline.pycode import Name
from airshift.errors import AirshiftError


class ActivityTasks(EmrTasks, Ec2Tasks):
    """Dispatch by activity type; the worker-side activities are built here."""

    def activity(self, obj: PipelineObject) -> Chain:
        """The activity's tasks; all of them carry its retries, timeouts and alarms."""
        kind = self.p.type_of(obj) or ""
        handler: Callable[[PipelineObject], Chain] = getattr(self, f"_{kind}")
        before = set(self.tasks)
        chain = handler(obj)
        shared = {t for pair in self.resources.values() for t in pair}  # clusters, instances
        self.own(obj, [t for t in self.tasks if t not in before and t not in shared], chain)
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
        resource = self.p.ref(obj, "runsOn")
        if self.ec2_strategy == "ssm" and resource and self.p.type_of(resource) == "Ec2Resource":
            return self.ssm_shell(obj, resource)
        script = self.shell_script(obj, obj, stage=True)
        task_id = self.add(obj.id, BASH, obj, **script)
        return Chain(task_id, task_id)

    def _CopyActivity(self, obj: PipelineObject) -> Chain:
        create = None
        source, target = self.require_ref(obj, "input"), self.require_ref(obj, "output")
        kinds = (self.p.type_of(source), self.p.type_of(target))
        sql_nodes = ("SqlDataNode", "MySqlDataNode")
        if kinds == ("S3DataNode", "S3DataNode"):
            (src, src_dir), (dst, dst_dir) = self.s3_location(source), self.s3_location(target)
            if src_dir or dst_dir:
                self.min_amazon = max(self.min_amazon, "9.32.0", key=version_key)
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
            task_id = self._sql_to_s3(obj, source, target)
        elif kinds[0] == "S3DataNode" and kinds[1] in sql_nodes:
            task_id = self._s3_to_sql(obj, source, target)
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
        if create is not None:
            self.edge(create, task_id)
        return Chain(create or task_id, task_id)

    def _sql_to_s3(
        self, obj: PipelineObject, source: PipelineObject, target: PipelineObject
    ) -> str:
        """Rows of a query as DP writes them: CSV records, no header, no index column.

        A ``directoryPath`` output is a folder: the rows go to one file in it, named after
        the activity (SqlToS3Operator would otherwise write an object named like the
        folder).
        """
        location, is_dir = self.s3_location(target)
        if is_dir:
            name = f"{sanitize(obj.id)}.csv"
            location = in_folder(location, name)
            self.notes.assume(obj.id, f"the output folder receives the rows as one file, {name}.")
        bucket, key = self.s3_split(location)
        self.min_amazon = max(self.min_amazon, "9.13.0", key=version_key)  # df_kwargs
        return self.add(
            obj.id,
            SQL_TO_S3,
            obj,
            query=self.select_query(source),
            sql_conn_id=self.node_connection(source),
            s3_bucket=bucket,
            s3_key=key,
            file_format="csv",
            df_kwargs={"index": False, "header": False},
            replace=True,
        )

    def _s3_to_sql(
        self, obj: PipelineObject, source: PipelineObject, target: PipelineObject
    ) -> str:
        """CSV records into a table: one file with S3ToSqlOperator, or every file of a folder.

        S3ToSqlOperator reads exactly one key; DP copies every file of a ``directoryPath``
        input, so a folder is loaded by a helper that lists it (an empty folder loads
        nothing and succeeds, as in DP).
        """
        location, is_dir = self.s3_location(source)
        bucket, key = self.s3_split(location)
        table = self.require(target, "table").render()
        conn_id = self.node_connection(target)
        if is_dir:
            self.helpers.add("load_csv_folder")
            return self.add(
                obj.id,
                PYTHON,
                obj,
                python_callable=Name("load_csv_folder"),
                op_kwargs={"bucket": bucket, "folder": key, "table": table, "conn_id": conn_id},
            )
        self.helpers.add("parse_csv")
        return self.add(
            obj.id,
            S3_TO_SQL,
            obj,
            s3_bucket=bucket,
            s3_key=key,
            table=table,
            parser=Name("parse_csv"),
            sql_conn_id=conn_id,
        )

    def _SqlActivity(self, obj: PipelineObject) -> Chain:
        database = self.require_ref(obj, "database")
        script = self.tr.field(obj, "script")
        uri = self.tr.field(obj, "scriptUri")
        if (script is None) == (uri is None):
            raise AirshiftError(f"object {obj.id!r}: set exactly one of 'script' or 'scriptUri'.")
        if script is not None:
            sql = script.render()
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
            keys = self.tr.fields(target, "primaryKeys")
            if keys and method == "UPSERT" and all(k.is_static for k in keys):
                kwargs["upsert_keys"] = [k.static for k in keys]  # not a templated field
            task_id = self.add(obj.id, S3_TO_REDSHIFT, obj, **kwargs)
            if method == "UPSERT" and keys and "upsert_keys" not in kwargs:
                self.todo(
                    task_id,
                    "primaryKeys use run-time values, but upsert_keys is not templated; "
                    "the operator falls back to the table's primary key.",
                )
            create = self.create_table(obj, target)
            if mode == "KEEP_EXISTING":
                self.todo(
                    task_id,
                    "insertMode KEEP_EXISTING has no operator mode; APPEND is used, which may duplicate rows.",
                )
        elif kinds == ("RedshiftDataNode", "S3DataNode"):
            task_id = self._unload(obj, source, target, mode, options)
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
                try:
                    copy += f" READRATIO {round(float(ratio) * 100)}"
                except ValueError as exc:
                    raise AirshiftError(
                        f"object {source.id!r} field 'readThroughputPercent': {ratio!r} is not a number."
                    ) from exc
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
        if create is not None:
            self.edge(create, task_id)
        return Chain(create or task_id, task_id)

    def _unload(
        self,
        obj: PipelineObject,
        source: PipelineObject,
        target: PipelineObject,
        mode: str,
        options: list[str],
    ) -> str:
        """Redshift to S3 with UNLOAD, into the node's folder (or to its file path as prefix).

        The location is the UNLOAD prefix itself (``table_as_file_name`` would add
        ``/<table>_`` to it: ``folder//table_0000_part_00``). The files are written in the
        node's ``dataFormat`` (DP ignores ``commandOptions`` then), else with the
        ``commandOptions``, else as CSV, the format a DP CopyActivity reads them back in.
        ``TRUNCATE``/``OVERWRITE_EXISTING`` replace earlier files (``ALLOWOVERWRITE``), so
        a rerun of the same date succeeds.
        """
        location, _ = self.s3_location(target)
        bucket, key = self.s3_split(location)
        if self.p.has(target, "dataFormat"):
            unload = self.format_options(target)
        elif options:
            unload = list(options)
        else:
            unload = ["CSV"]
            self.notes.assume(
                obj.id, f"{target.id!r} has no dataFormat: the UNLOAD writes CSV files."
            )
        if mode in ("TRUNCATE", "OVERWRITE_EXISTING") and "ALLOWOVERWRITE" not in unload:
            unload.append("ALLOWOVERWRITE")
        return self.add(
            obj.id,
            REDSHIFT_TO_S3,
            obj,
            s3_bucket=bucket,
            s3_key=key,
            schema=self.render(source, "schemaName") or "public",
            table=self.require(source, "tableName").render(),
            table_as_file_name=False,
            redshift_conn_id=self.node_connection(source),
            unload_options=unload,
        )

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
            sql=sql.render(),
        )
