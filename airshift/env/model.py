"""Requests checked against botocore's own ``mwaa`` service model before they are sent.

Why both checks: botocore's parameter validation (what every client call runs) knows
required members, types and minimums; the service model also states maximum lengths,
patterns and enums, which only the service enforces, minutes into a create. Reading them
from the model keeps airshift right as AWS changes it: no limit is copied by hand.
"""

from __future__ import annotations

import re
from typing import Any

from airshift.errors import AirshiftError


def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("mwaa")


def problems(operation: str, params: dict[str, Any]) -> list[str]:
    """Everything the model says is wrong with ``params`` for ``operation`` (empty: valid)."""
    from botocore.validate import ParamValidator

    shape = _model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    found = [line.strip() for line in report.generate_report().splitlines()[1:] if line.strip()]
    found += _constraints(params, shape, operation)
    return found


def validate(operation: str, params: dict[str, Any]) -> None:
    """Raise an AirshiftError listing every problem of the request."""
    found = problems(operation, params)
    if found:
        raise AirshiftError(
            f"The {operation} request is not valid for the MWAA API:\n- " + "\n- ".join(found)
        )


def _constraints(value: Any, shape: Any, where: str) -> list[str]:
    """Maximums, patterns and enums of the model, which botocore leaves to the service."""
    found = []
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                found += _constraints(value[name], member, f"{where}.{name}")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += _constraints(key, shape.key, f"{where} key {key!r}")
            found += _constraints(item, shape.value, f"{where}[{key!r}]")
    elif kind == "list" and isinstance(value, list):
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            found.append(f"{where}: at most {shape.metadata['max']} items, not {len(value)}.")
        for index, item in enumerate(value):
            found += _constraints(item, shape.member, f"{where}[{index}]")
    elif kind == "string" and isinstance(value, str):
        found += _string(value, shape, where)
    elif kind == "integer" and isinstance(value, int) and value > shape.metadata.get("max", value):
        found.append(f"{where}: at most {shape.metadata['max']}, not {value}.")
    return found


def _string(value: str, shape: Any, where: str) -> list[str]:
    meta = shape.metadata
    sensitive = meta.get("sensitive")  # never echo a sensitive value
    shown = "the value" if sensitive else repr(value)
    if "max" in meta and len(value) > meta["max"]:
        return [f"{where}: at most {meta['max']} characters, not {len(value)}."]
    if shape.enum and value not in shape.enum:
        return [f"{where}: {shown} is not one of {', '.join(shape.enum)}."]
    pattern = _pattern(meta.get("pattern"))
    if pattern is not None and not pattern.fullmatch(value):
        return [f"{where}: {shown} does not match {meta['pattern']!r}."]
    return []


def _pattern(text: str | None) -> re.Pattern[str] | None:
    """The model's pattern as a Python regex; Java-only syntax (``\\p{L}``) is not checked."""
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error:
        return None
