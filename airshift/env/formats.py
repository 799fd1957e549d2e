"""A plan as a CreateEnvironment request, a CloudFormation template or a Terraform resource.

Why three: teams create environments the way they manage the rest of their account. The
JSON is exactly the request (``aws mwaa create-environment --cli-input-json file://plan.json``
and ``airshift env create`` take it). CloudFormation's ``AWS::MWAA::Environment`` uses the
API's own property names. Terraform's ``aws_mwaa_environment`` uses their snake_case form,
with structures as nested blocks and maps as map attributes, which is exactly how the
request's shapes in botocore's model are typed, so the model decides, not a hand-kept table.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports Format for every airshift start; plans load on use
    from airshift.env.plan import Plan

CFN_TYPE = "AWS::MWAA::Environment"
TF_TYPE = "aws_mwaa_environment"


class Format(str, Enum):
    json = "json"
    cloudformation = "cloudformation"
    terraform = "terraform"


def render(plan: Plan, fmt: Format) -> str:
    if fmt is Format.json:
        return json.dumps(plan.request, indent=2) + "\n"
    properties = dict(plan.request)
    if plan.worker_replacement_strategy:
        properties["WorkerReplacementStrategy"] = plan.worker_replacement_strategy
    origin = f"Planned by airshift from {plan.source.name} (Airflow {plan.source.version})"
    if fmt is Format.cloudformation:
        return cloudformation(properties, origin)
    return terraform(properties, origin)


def cloudformation(properties: dict[str, Any], description: str) -> str:
    """A template with one ``AWS::MWAA::Environment`` and its ARN and web server URL as outputs."""
    logical = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", properties["Name"]))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
        "Resources": {logical: {"Type": CFN_TYPE, "Properties": properties}},
        "Outputs": {
            "EnvironmentArn": {"Value": {"Fn::GetAtt": [logical, "Arn"]}},
            "WebserverUrl": {"Value": {"Fn::GetAtt": [logical, "WebserverUrl"]}},
        },
    }
    return json.dumps(template, indent=2) + "\n"


def terraform(properties: dict[str, Any], description: str) -> str:
    """One ``aws_mwaa_environment`` resource, labelled after the environment's name."""
    label = re.sub(r"[^A-Za-z0-9_-]", "_", properties["Name"])
    lines = [f"# {description}", f'resource "{TF_TYPE}" "{label}" {{']
    lines += _body(properties, _create_shape(), "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _create_shape() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("mwaa")
    return model.operation_model("CreateEnvironment").input_shape


def _body(values: dict[str, Any], shape: Any, indent: str) -> list[str]:
    lines = []
    for name, value in values.items():
        member = shape.members.get(name) if shape is not None else None
        kind = member.type_name if member is not None else None
        key = snake(name)
        if kind == "structure":
            lines.append(f"{indent}{key} {{")
            lines += _body(value, member, indent + "  ")
            lines.append(f"{indent}}}")
        elif kind == "map":
            lines.append(f"{indent}{key} = {{")
            lines += [f"{indent}  {_string(k)} = {_value(v)}" for k, v in value.items()]
            lines.append(f"{indent}}}")
        else:
            lines.append(f"{indent}{key} = {_value(value)}")
    return lines


def snake(name: str) -> str:
    """``DagS3Path`` -> ``dag_s3_path``: the provider's spelling of an API member."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _string(str(value))


def _string(text: str) -> str:
    """A quoted HCL string: JSON's escapes, and template sequences (``${``, ``%{``) doubled."""
    return json.dumps(text, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")
