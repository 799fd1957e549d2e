"""The in-memory form of an AWS Data Pipeline definition, and field resolution.

Why a model of its own: both file encodings (``objects`` and ``pipelineObjects``) carry the
same data, and every later step (expressions, schedules, tasks) must see fields exactly as
Data Pipeline resolves them: own value, then the ``parent`` chain, then ``Default``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from airshift.errors import AirshiftError


@dataclass(frozen=True)
class Ref:
    """A ``{"ref": "<id>"}`` field value."""

    id: str


Value = str | Ref

_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|pwd", re.IGNORECASE)
_PARAM_REF = re.compile(r"#\{\s*(\*?my\w+)\s*\}")

ACTIVITY_TYPES = frozenset(
    {
        "ShellCommandActivity",
        "CopyActivity",
        "SqlActivity",
        "EmrActivity",
        "HadoopActivity",
        "HiveActivity",
        "HiveCopyActivity",
        "PigActivity",
        "RedshiftCopyActivity",
    }
)
DATA_NODE_TYPES = frozenset(
    {"S3DataNode", "SqlDataNode", "DynamoDBDataNode", "MySqlDataNode", "RedshiftDataNode"}
)
DATABASE_TYPES = frozenset({"JdbcDatabase", "RdsDatabase", "RedshiftDatabase"})
RESOURCE_TYPES = frozenset({"Ec2Resource", "EmrCluster"})
PRECONDITION_TYPES = frozenset(
    {
        "DynamoDBDataExists",
        "DynamoDBTableExists",
        "S3KeyExists",
        "S3PrefixNotEmpty",
        "Exists",
        "ShellCommandPrecondition",
    }
)
ACTION_TYPES = frozenset({"SnsAlarm", "Terminate"})
HELPER_TYPES = frozenset(
    {
        "Schedule",
        "CSV",
        "TSV",
        "Custom",
        "RegEx",
        "DynamoDBDataFormat",
        "DynamoDBExportDataFormat",
        "EmrConfiguration",
        "Property",
        "ShellScriptConfig",
        "HttpProxy",
        "EbsConfiguration",
        "EbsBlockDeviceConfig",
        "VolumeSpecification",
    }
)
KNOWN_TYPES = (
    ACTIVITY_TYPES
    | DATA_NODE_TYPES
    | DATABASE_TYPES
    | RESOURCE_TYPES
    | PRECONDITION_TYPES
    | ACTION_TYPES
    | HELPER_TYPES
)


@dataclass
class PipelineObject:
    """One definition object; every field holds a list because DP fields are repeatable."""

    id: str
    name: str
    fields: dict[str, list[Value]] = field(default_factory=dict)


@dataclass
class Parameter:
    """A ``parameters`` entry: the attributes that shape the Airflow ``Param``."""

    id: str
    type: str = "String"
    description: str | None = None
    optional: bool = False
    allowed_values: list[str] = field(default_factory=list)
    default: str | list[str] | None = None
    is_array: bool = False

    @property
    def secret(self) -> bool:
        """A value that must never reach the DAG file or the report.

        ``*myPassword`` is secret by definition; real samples also pass passwords through
        plain parameters named like ``myRDSPassword``.
        """
        return self.id.startswith("*") or bool(_SECRET_NAME.search(self.id))


@dataclass
class Definition:
    """Objects, parameters and values of one pipeline, plus what the loader repaired."""

    source: str
    objects: dict[str, PipelineObject]
    parameters: dict[str, Parameter]
    values: dict[str, str | list[str]]
    repairs: list[str] = field(default_factory=list)


class Pipeline:
    """A validated definition with Data Pipeline's field resolution.

    Resolution order per field: own value, then the nearest ``parent``, ..., then
    ``Default``. A value set on the object replaces the inherited one (lists are not merged).
    """

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.objects = definition.objects
        self.default = self.objects.get("Default")
        self.read: set[tuple[str, str]] = set()
        self.substituted: set[str] = set()  # parameters whose value was written in at conversion
        self._check_refs()
        self._check_parent_cycles()
        self._check_types()

    # -- resolution -------------------------------------------------------------------
    def chain(self, obj: PipelineObject) -> Iterator[PipelineObject]:
        """The object, its ``parent`` chain, then ``Default`` (each at most once)."""
        seen: set[str] = set()
        current: PipelineObject | None = obj
        while current is not None and current.id not in seen:
            seen.add(current.id)
            yield current
            parent = current.fields.get("parent")
            current = self.objects[parent[0].id] if parent and isinstance(parent[0], Ref) else None
        if self.default is not None and self.default.id not in seen:
            yield self.default

    def get(self, obj: PipelineObject, key: str) -> list[Value]:
        """Resolve a field; the read is recorded so unconverted fields can be reported."""
        for holder in self.chain(obj):
            if key in holder.fields:
                self.read.add((holder.id, key))
                return holder.fields[key]
        return []

    def has(self, obj: PipelineObject, key: str) -> bool:
        return bool(self.get(obj, key))

    def string(self, obj: PipelineObject, key: str) -> str | None:
        """The first value of a field read at conversion time (a number, an enum, a period).

        ``#{myParam}`` references are replaced by the parameter's value: such fields are not
        templated in Airflow, so DP's activation-time substitution happens here. Secret
        parameters and parameters without a value are left as written.
        """
        values = self.get(obj, key)
        if not values:
            return None
        if isinstance(values[0], Ref):
            raise AirshiftError(
                f"object {obj.id!r} field {key!r}: expected a value, got a reference to "
                f"{values[0].id!r}."
            )
        return _PARAM_REF.sub(lambda m: self._parameter_value(obj, m), values[0])

    def integer(self, obj: PipelineObject, key: str) -> int | None:
        """A whole-number field (retries, counts), or None when unset."""
        text = self.string(obj, key)
        if text is None:
            return None
        if not text.strip().isdigit():
            raise AirshiftError(f"object {obj.id!r} field {key!r}: {text!r} is not a whole number.")
        return int(text)

    def _parameter_value(self, obj: PipelineObject, match: re.Match[str]) -> str:
        pid = match.group(1)
        param = self.definition.parameters.get(pid)
        if param is None or param.secret or self.get(obj, pid):
            return match.group(0)
        value = self.definition.values.get(pid, param.default)
        if not isinstance(value, str):
            return match.group(0)
        self.substituted.add(pid)
        return value

    def strings(self, obj: PipelineObject, key: str) -> list[str]:
        out = []
        for value in self.get(obj, key):
            if isinstance(value, Ref):
                raise AirshiftError(
                    f"object {obj.id!r} field {key!r}: expected values, got a reference to "
                    f"{value.id!r}."
                )
            out.append(value)
        return out

    def refs(self, obj: PipelineObject, key: str) -> list[PipelineObject]:
        out = []
        for value in self.get(obj, key):
            if not isinstance(value, Ref):
                raise AirshiftError(
                    f"object {obj.id!r} field {key!r}: expected a reference, got {value!r}."
                )
            out.append(self.objects[value.id])
        return out

    def ref(self, obj: PipelineObject, key: str) -> PipelineObject | None:
        found = self.refs(obj, key)
        return found[0] if found else None

    def type_of(self, obj: PipelineObject) -> str | None:
        return self.string(obj, "type")

    def of_types(self, types: frozenset[str]) -> list[PipelineObject]:
        """Objects of the given types, in definition order (the generated code keeps it)."""
        return [o for o in self.objects.values() if self.type_of(o) in types]

    # -- validation -------------------------------------------------------------------
    def _check_refs(self) -> None:
        for obj in self.objects.values():
            for key, values in obj.fields.items():
                for value in values:
                    if isinstance(value, Ref) and value.id not in self.objects:
                        raise AirshiftError(
                            f"object {obj.id!r} field {key!r} refers to {value.id!r}, "
                            "which is not defined in the pipeline."
                        )

    def _check_parent_cycles(self) -> None:
        for obj in self.objects.values():
            seen = [obj.id]
            current = obj
            while parent := current.fields.get("parent"):
                if not isinstance(parent[0], Ref):
                    raise AirshiftError(
                        f"object {current.id!r} field 'parent' must be a reference, "
                        f"got {parent[0]!r}."
                    )
                if parent[0].id in seen:
                    cycle = " -> ".join([*seen, parent[0].id])
                    raise AirshiftError(f"object {obj.id!r} field 'parent' forms a cycle: {cycle}.")
                seen.append(parent[0].id)
                current = self.objects[parent[0].id]

    def _check_types(self) -> None:
        for obj in self.objects.values():
            kind = self.type_of(obj)
            if kind is not None and kind not in KNOWN_TYPES:
                raise AirshiftError(
                    f"object {obj.id!r} field 'type': unknown object type {kind!r}."
                )
