"""Reading definition files in both encodings, leniently where real files are sloppy.

Why lenient: public definitions (``ShellCommandWithFTP``, ``OnDemandWithLamdaFunctions``)
contain raw newlines inside strings and trailing commas, which strict JSON rejects. Those
are repaired and reported. Anything that changes meaning (a field value that is neither a
string nor a reference, duplicate ids) is an error naming the object and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airshift.datapipeline.model import Definition, Parameter, PipelineObject, Ref, Value
from airshift.errors import AirshiftError

_RESERVED = ("id", "name")


def read_json(path: Path) -> tuple[Any, list[str]]:
    """Parse a JSON file, tolerating raw control characters and trailing commas."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AirshiftError(f"{path}: cannot read the file ({exc}).") from exc
    repairs: list[str] = []
    cleaned, removed = _strip_trailing_commas(text)
    if removed:
        repairs.append(f"removed {removed} trailing comma(s)")
    try:
        json.loads(cleaned)
    except json.JSONDecodeError as exc:
        if "Invalid control character" not in exc.msg:
            raise AirshiftError(
                f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
            ) from exc
        repairs.append("accepted raw newlines/control characters inside strings")
    try:
        return json.loads(cleaned, strict=False), repairs
    except json.JSONDecodeError as exc:
        raise AirshiftError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from exc


def _strip_trailing_commas(text: str) -> tuple[str, int]:
    """Drop commas that directly precede ``}`` or ``]`` outside strings."""
    out: list[str] = []
    removed = 0
    in_string = escaped = False
    pending_comma: int | None = None
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in "}]" and pending_comma is not None:
            del out[pending_comma]
            removed += 1
        if not ch.isspace():
            pending_comma = None
        if ch == ",":
            pending_comma = len(out)
        elif ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out), removed


def _key(mapping: dict[str, Any], *names: str) -> Any:
    """Case-insensitive lookup: boto3 says ``fields``, CloudFormation says ``Fields``."""
    lowered = {k.lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise AirshiftError(f"{where}: expected a string, got {json.dumps(value)[:80]}.")


def _file_value(value: Any, where: str) -> list[Value]:
    if isinstance(value, list):
        return [v for item in value for v in _file_value(item, where)]
    if isinstance(value, dict):
        ref = value.get("ref")
        if set(value) != {"ref"} or not isinstance(ref, str):
            raise AirshiftError(
                f'{where}: expected a string or {{"ref": "<id>"}}, got {json.dumps(value)[:80]}.'
            )
        return [Ref(ref)]
    return [_scalar(value, where)]


def _object_from_file(raw: Any, index: int) -> PipelineObject:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise AirshiftError(f"objects[{index}]: every object needs a string 'id'.")
    oid = raw["id"]
    fields = {
        key: _file_value(value, f"object {oid!r} field {key!r}")
        for key, value in raw.items()
        if key not in _RESERVED
    }
    name = raw.get("name")
    return PipelineObject(
        oid, _scalar(name, f"object {oid!r} field 'name'") if name else oid, fields
    )


def _object_from_api(raw: Any, index: int) -> PipelineObject:
    oid = _key(raw, "id")
    if not isinstance(oid, str) or not oid:
        raise AirshiftError(f"pipelineObjects[{index}]: every object needs a string 'id'.")
    fields: dict[str, list[Value]] = {}
    for entry in _key(raw, "fields") or []:
        key = _key(entry, "key")
        where = f"object {oid!r} field {key!r}"
        if not isinstance(key, str):
            raise AirshiftError(f"object {oid!r}: a field has no 'key'.")
        ref, string = _key(entry, "refValue"), _key(entry, "stringValue")
        if (ref is None) == (string is None):
            raise AirshiftError(f"{where}: needs exactly one of stringValue or refValue.")
        fields.setdefault(key, []).append(Ref(ref) if ref is not None else _scalar(string, where))
    name = _key(raw, "name")
    return PipelineObject(
        oid, _scalar(name, f"object {oid!r} field 'name'") if name else oid, fields
    )


def _flag(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _parameter(attrs: dict[str, Any], pid: str) -> Parameter:
    where = f"parameter {pid!r}"
    allowed = attrs.get("allowedValues")
    default = attrs.get("default")
    return Parameter(
        id=pid,
        type=_scalar(attrs.get("type") or "String", f"{where} attribute 'type'"),
        description=attrs.get("description"),
        optional=_flag(attrs.get("optional")),
        allowed_values=[
            _scalar(v, f"{where} attribute 'allowedValues'")
            for v in (allowed if isinstance(allowed, list) else [allowed] if allowed else [])
        ],
        default=(
            [_scalar(v, where) for v in default]
            if isinstance(default, list)
            else None
            if default is None
            else _scalar(default, where)
        ),
        is_array=_flag(attrs.get("isArray")),
    )


def _parameters(raw: Any) -> dict[str, Parameter]:
    if raw is not None and not isinstance(raw, list):
        raise AirshiftError("'parameters' must be a list of parameter objects.")
    params: dict[str, Parameter] = {}
    for index, entry in enumerate(raw or []):
        pid = _key(entry, "id")
        if not isinstance(pid, str) or not pid:
            raise AirshiftError(f"parameters[{index}]: every parameter needs a string 'id'.")
        attrs = _key(entry, "attributes")
        if isinstance(attrs, list):  # API form: [{"key", "stringValue"}], repeatable
            flat: dict[str, Any] = {}
            for item in attrs:
                key, value = _key(item, "key"), _key(item, "stringValue")
                if key in flat:
                    flat[key] = [
                        *(flat[key] if isinstance(flat[key], list) else [flat[key]]),
                        value,
                    ]
                else:
                    flat[key] = value
            attrs = flat
        else:
            attrs = {k: v for k, v in entry.items() if k != "id"}
        if pid in params:
            raise AirshiftError(f"parameter {pid!r} is declared twice.")
        params[pid] = _parameter(attrs, pid)
    return params


def parse_values(raw: Any, where: str) -> dict[str, str | list[str]]:
    """``values`` in any of its spellings: a map, a ``values`` map, or ``parameterValues``."""
    if isinstance(raw, dict) and _key(raw, "parameterValues") is not None:
        raw = _key(raw, "parameterValues")
    elif isinstance(raw, dict) and isinstance(_key(raw, "values"), dict):
        raw = _key(raw, "values")
    out: dict[str, str | list[str]] = {}
    if isinstance(raw, list):
        for item in raw:
            pid, value = _key(item, "id"), _scalar(_key(item, "stringValue"), where)
            if pid in out:
                prior = out[pid]
                out[pid] = [*(prior if isinstance(prior, list) else [prior]), value]
            else:
                out[pid] = value
        return out
    if not isinstance(raw, dict):
        raise AirshiftError(f"{where}: values must be a JSON object of parameter id -> value.")
    for pid, value in raw.items():
        out[pid] = (
            [_scalar(v, f"{where} {pid!r}") for v in value]
            if isinstance(value, list)
            else _scalar(value, f"{where} {pid!r}")
        )
    return out


def _unwrap_cloudformation(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """A CloudFormation template holds the API form under one pipeline resource."""
    resources = raw.get("Resources")
    if not isinstance(resources, dict):
        return raw
    pipelines = {
        name: res.get("Properties") or {}
        for name, res in resources.items()
        if isinstance(res, dict) and res.get("Type") == "AWS::DataPipeline::Pipeline"
    }
    if len(pipelines) != 1:
        raise AirshiftError(
            f"{path}: a CloudFormation template must hold exactly one AWS::DataPipeline::Pipeline "
            f"to convert; found {len(pipelines)}."
        )
    return next(iter(pipelines.values()))


def load_definition(
    path: Path, values_path: Path | None = None, parameters_path: Path | None = None
) -> Definition:
    """Read one definition file (file or API form) with optional parameter/values files.

    ``aws datapipeline put-pipeline-definition`` takes ``--parameter-objects`` and
    ``--parameter-values-uri`` as separate files; either may also hold the other section.
    """
    raw, repairs = read_json(path)
    if not isinstance(raw, dict):
        raise AirshiftError(f"{path}: a pipeline definition is a JSON object.")
    raw = _unwrap_cloudformation(raw, path)
    definition = definition_from(raw, path.name, repairs)
    for extra in (parameters_path, values_path):
        if extra is None:
            continue
        more_raw, more = read_json(extra)
        definition.repairs += [f"{extra.name}: {r}" for r in more]
        if not isinstance(more_raw, dict):
            raise AirshiftError(f"{extra}: expected a JSON object with parameters or values.")
        for pid, param in _parameters(_key(more_raw, "parameterObjects", "parameters")).items():
            definition.parameters[pid] = param
        has_values = any(_key(more_raw, k) is not None for k in ("values", "parameterValues"))
        bare_map = extra is values_path and _key(more_raw, "parameters") is None
        if has_values or bare_map:
            definition.values |= parse_values(more_raw, extra.name)
    return definition


def definition_from(
    raw: dict[str, Any], source: str, repairs: list[str] | None = None
) -> Definition:
    """A definition from its parsed JSON (file or API form; ``get_pipeline_definition``'s
    answer is the API form). ``source`` names it in messages and in the report."""
    repairs = list(repairs or [])
    objects_raw = _key(raw, "pipelineObjects", "objects")
    if not isinstance(objects_raw, list) or not objects_raw:
        raise AirshiftError(
            f"{source}: no 'objects' (file form) or 'pipelineObjects' (API form) list found."
        )
    objects: dict[str, PipelineObject] = {}
    for index, entry in enumerate(objects_raw):
        is_api = isinstance(entry, dict) and isinstance(_key(entry, "fields"), list)
        obj = (_object_from_api if is_api else _object_from_file)(entry, index)
        if obj.id in objects:
            raise AirshiftError(f"object {obj.id!r} is defined twice in {source}.")
        objects[obj.id] = obj
    own_values = _key(raw, "values")
    if own_values is not None and not isinstance(own_values, dict):
        raise AirshiftError(f"{source}: 'values' must map parameter ids to values.")
    values = parse_values(
        {"values": own_values or {}}
        if _key(raw, "parameterValues") is None
        else {"parameterValues": _key(raw, "parameterValues")},
        f"{source} values",
    )
    parameters = _parameters(_key(raw, "parameterObjects", "parameters"))
    return Definition(
        source=source,
        objects=objects,
        parameters=parameters,
        values=values,
        repairs=repairs,
    )
