"""Database objects (and inline MySqlDataNode credentials) as Airflow connection ids.

Why ids only: generated DAGs reference connections by ``conn_id`` and never carry
credentials. The report lists what each connection must contain (type, host, schema,
login, extras) so an engineer can create it; passwords are named, never copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from airshift.datapipeline.model import Pipeline, PipelineObject
from airshift.datapipeline.translate import Notes

_JDBC = re.compile(
    r"^jdbc:(?P<kind>[a-z0-9]+):(?://)?(?P<host>[^:/;?]*)(?::(?P<port>\d+))?/?(?P<db>[^?;]*)"
)
_JDBC_TYPES = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "oracle": "oracle",
    "redshift": "redshift",
}


@dataclass
class ConnectionSpec:
    """What one Airflow connection must hold; values are as written in the definition."""

    conn_id: str
    conn_type: str
    source: str
    fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    password_from: str | None = None


class Connections:
    """Allocates one connection per database object, on first use."""

    def __init__(self, pipeline: Pipeline, notes: Notes) -> None:
        self.pipeline = pipeline
        self.notes = notes
        self.specs: dict[str, ConnectionSpec] = {}

    def for_object(self, obj: PipelineObject) -> str:
        """The conn_id for a database (or a data node that carries its own connection)."""
        if obj.id in self.specs:
            return self.specs[obj.id].conn_id
        p = self.pipeline
        kind = p.type_of(obj) or ""
        conn_id = re.sub(r"[^A-Za-z0-9_]", "_", obj.id).lower() or "database"
        used = {s.conn_id for s in self.specs.values()}
        base, n = conn_id, 2
        while conn_id in used:
            conn_id, n = f"{base}_{n}", n + 1
        spec = ConnectionSpec(conn_id, "generic", obj.id)
        url = p.string(obj, "connectionString")
        if url:
            spec.fields["connection_string"] = url
            match = _JDBC.match(url)
            if match:
                spec.conn_type = _JDBC_TYPES.get(match.group("kind"), "generic")
                spec.fields |= {
                    k: v
                    for k, v in {
                        "host": match.group("host"),
                        "port": match.group("port"),
                        "schema": match.group("db"),
                    }.items()
                    if v
                }
        if kind == "RedshiftDatabase":
            spec.conn_type = "redshift"
            if cluster := p.string(obj, "clusterId"):
                spec.extra["cluster_identifier"] = cluster
        elif kind == "RdsDatabase":
            spec.conn_type = "mysql"
            instance = p.string(obj, "rdsInstanceId") or ""
            spec.extra["rds_instance_id"] = instance
            self.notes.assume(
                obj.id,
                f"connection {conn_id!r}: RDS engine is not in the definition; 'mysql' assumed, "
                f"host to be looked up from instance {instance!r}.",
            )
        elif kind in ("MySqlDataNode",):
            spec.conn_type = "mysql"
        for key, target in (
            ("databaseName", "schema"),
            ("username", "login"),
            ("region", "region"),
        ):
            if value := p.string(obj, key):
                (spec.extra if target == "region" else spec.fields)[target] = value
        for prop in p.strings(obj, "jdbcProperties"):
            name, _, value = prop.partition("=")
            spec.extra[name.strip()] = value.strip()
        if p.string(obj, "jdbcDriverJarUri") or p.string(obj, "jdbcDriverClass"):
            spec.extra["jdbc_driver"] = p.string(obj, "jdbcDriverClass") or ""
            self.notes.assume(
                obj.id, "the JDBC driver jar is replaced by the Airflow provider's driver."
            )
        if spec.conn_type == "generic":
            self.notes.todo(obj.id, f"connection {conn_id!r}: set its type from {url!r}.")
        if p.has(obj, "*password"):
            spec.password_from = f"{obj.id}.*password"
        self.specs[obj.id] = spec
        return conn_id
