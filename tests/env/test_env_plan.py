"""``airshift env plan``: three differently configured MWAA sources planned onto Airflow 3.3.1.

The oracles are other people's validators: botocore's own parameter validation and service
model for the JSON request, cfn-lint for the CloudFormation template, python-hcl2 and the
AWS provider's schema for the Terraform resource, and the real Airflow 3.3.1 for what
happens to each configuration option.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import cfnlint.api
import hcl2
import pytest
from botocore.validate import validate_parameters
from typer.testing import CliRunner

from airshift.cli import app
from airshift.env import model, offer
from airshift.env.aws import Arn
from airshift.env.configuration import Outcome
from airshift.env.formats import Format, render, snake
from airshift.env.plan import LOG_MODULES, Plan, PlanOptions, make_plan
from airshift.env.secretsmanager import SecretsManagerTarget
from airshift.env.source import Environment, read_environment
from airshift.errors import AirshiftError
from airshift.versions import known_releases
from tests.env.conftest import DATA, SOURCES, TARGET, environment, stub_get

NEW_NAME = {
    "public-small": "analytics-v3",
    "private-kms": "payments_etl_v3",
    "micro-211": "sandbox3",
}
TF_SCHEMA = json.loads((DATA / "terraform_aws_mwaa_environment.json").read_text())
runner = CliRunner()


def _plan(name: str, facts: dict, **options: Any) -> Plan:
    source = read_environment(str(DATA / f"{name}.json"))
    options.setdefault("check_role", False)
    return make_plan(source, PlanOptions(TARGET, NEW_NAME[name], **options), facts=facts)


@pytest.mark.parametrize("name", SOURCES)
def test_json_is_a_create_environment_request_botocore_accepts(name: str, facts: dict) -> None:
    plan = _plan(name, facts, secrets_to=SecretsManagerTarget.parse("aws-secretsmanager://"))
    request = json.loads(render(plan, Format.json))
    shape = botocore.session.get_session().get_service_model("mwaa")
    validate_parameters(request, shape.operation_model("CreateEnvironment").input_shape)
    assert model.problems("CreateEnvironment", request) == []

    source = environment(name)
    # Every setting CreateEnvironment and GetEnvironment share is carried as it is, but for
    # those the plan decides on purpose (checked below) and the object versions, which
    # belong to the source's files.
    get_shape = shape.operation_model("GetEnvironment").output_shape.members["Environment"]
    decided = {
        "Name",
        "AirflowVersion",
        "AirflowConfigurationOptions",
        "Tags",
        "LoggingConfiguration",
    }
    shared = set(shape.operation_model("CreateEnvironment").input_shape.members) & set(
        get_shape.members
    )
    for setting in shared - decided:
        if setting.endswith("S3Path") or setting.endswith("ObjectVersion"):
            continue
        assert request.get(setting) == source.get(setting), setting
    assert request["NetworkConfiguration"] == source["NetworkConfiguration"]
    for module in LOG_MODULES:
        if module in source["LoggingConfiguration"]:
            expected = {
                k: source["LoggingConfiguration"][module][k] for k in ("Enabled", "LogLevel")
            }
            assert request["LoggingConfiguration"][module] == expected
    assert request.get("Tags", {}) == {
        k: v for k, v in source["Tags"].items() if not k.startswith("aws:")
    }
    prefix = f"{NEW_NAME[name]}/"
    for setting in ("DagS3Path", "RequirementsS3Path", "PluginsS3Path", "StartupScriptS3Path"):
        assert (setting in request) == (setting in source)
        if setting in source:
            assert request[setting] == prefix + source[setting]
    assert request["AirflowVersion"] == TARGET
    options = request["AirflowConfigurationOptions"]
    assert options["secrets.backend"].endswith("SecretsManagerBackend")
    assert (
        json.loads(options["secrets.backend_kwargs"])["connections_prefix"] == "airflow/connections"
    )


@pytest.mark.parametrize("name", SOURCES)
def test_cloudformation_template_passes_cfn_lint(name: str, facts: dict) -> None:
    plan = _plan(name, facts)
    text = render(plan, Format.cloudformation)
    region = Arn.parse(environment(name)["Arn"]).region
    matches = cfnlint.api.lint(text, regions=[region])
    assert [m for m in matches if m.rule.id.startswith("E")] == []
    (resource,) = json.loads(text)["Resources"].values()
    assert resource["Type"] == "AWS::MWAA::Environment"
    expected = dict(plan.request)
    if plan.worker_replacement_strategy:
        expected["WorkerReplacementStrategy"] = plan.worker_replacement_strategy
    assert resource["Properties"] == expected


def test_cfn_lint_would_catch_a_broken_template(facts: dict) -> None:
    text = render(_plan("public-small", facts), Format.cloudformation)
    broken = text.replace('"PUBLIC_ONLY"', '"PUBLIC"').replace('"MaxWorkers"', '"Workers"')
    rules = {m.rule.id for m in cfnlint.api.lint(broken, regions=["us-east-1"])}
    assert {"E3030", "E3002"} <= rules


@pytest.mark.parametrize("name", SOURCES)
def test_terraform_resource_parses_with_the_providers_names(name: str, facts: dict) -> None:
    plan = _plan(name, facts)
    parsed = hcl2.loads(render(plan, Format.terraform))
    ((kind, resources),) = parsed["resource"][0].items()
    assert kind == '"aws_mwaa_environment"'
    (body,) = resources.values()
    arguments = {k for k in body if not k.startswith("__")}
    assert arguments <= set(TF_SCHEMA["arguments"])
    assert set(TF_SCHEMA["required"]) <= arguments
    for block, children in TF_SCHEMA["blocks"].items():
        if block in body:
            (inner,) = body[block]
            assert {k for k in inner if not k.startswith("__")} <= set(children)
    for module in body.get("logging_configuration", [{}])[0]:
        if not module.startswith("__"):
            (settings,) = body["logging_configuration"][0][module]
            assert {k for k in settings if not k.startswith("__")} == set(
                TF_SCHEMA["module_logging"]
            )
    # Every value survives HCL's quoting and template escapes.
    properties = dict(plan.request)
    if plan.worker_replacement_strategy:
        properties["WorkerReplacementStrategy"] = plan.worker_replacement_strategy
    assert _from_hcl(body) == _snake_keys(properties)


def _hcl_string(token: str) -> str:
    return json.loads(token.replace("$${", "${").replace("%%{", "%{"))


def _from_hcl(value: Any) -> Any:
    if (
        isinstance(value, list)
        and value
        and isinstance(value[0], dict)
        and value[0].get("__is_block__")
    ):
        (value,) = value
    if isinstance(value, dict):
        return {
            (_hcl_string(k) if k.startswith('"') else k): _from_hcl(v)
            for k, v in value.items()
            if not k.startswith("__")
        }
    if isinstance(value, list):
        return [_from_hcl(v) for v in value]
    if isinstance(value, str) and value.startswith('"'):
        return _hcl_string(value)
    return value


def _snake_keys(value: Any, maps: bool = False) -> Any:
    if isinstance(value, dict) and not maps:
        return {
            snake(k): _snake_keys(v, k in ("AirflowConfigurationOptions", "Tags"))
            for k, v in value.items()
        }
    return value


def test_options_are_carried_as_the_real_target_says(facts: dict) -> None:
    plan = _plan("public-small", facts)
    options = plan.request["AirflowConfigurationOptions"]
    assert options["core.max_active_tasks_per_dag"] == "32"  # core.dag_concurrency, renamed
    assert options["api.base_url"] == "https://airflow.example.com"  # moved from [webserver]
    assert options["api.fallback_page_limit"] == "50"  # webserver.page_size, two renames
    assert options["dag_processor.refresh_interval"] == "120"
    assert options["celery.worker_autoscale"] == "10,5"  # the celery provider knows it
    assert "webserver.default_ui_timezone" not in options  # removed in 3.0
    assert "smtp.smtp_password" not in options
    outcomes = {o.key: o for o in plan.options.outcomes}
    assert outcomes["webserver.default_ui_timezone"].outcome is Outcome.DROPPED
    assert outcomes["celery.worker_autoscale"].outcome is Outcome.KEPT
    assert outcomes["celery.worker_autoscale"].message == ""
    assert outcomes["webserver.page_size"].new_key == "api.fallback_page_limit"
    defaults = " ".join(plan.options.changed_defaults)
    assert "catchup_by_default" in defaults
    assert "[core] executor" not in defaults  # MWAA sets the executor itself
    shown = json.dumps(plan.as_dict()) + " ".join(n.message for n in plan.notes)
    assert "hunter2" not in shown and "airflow.example.com" not in shown  # values never shown


def test_renames_convert_units_and_drop_what_mwaa_sets(facts: dict) -> None:
    plan = _plan("private-kms", facts)
    options = plan.request["AirflowConfigurationOptions"]
    assert options["fab.session_lifetime_minutes"] == str(7 * 24 * 60)  # was 7 days
    assert options["core.max_active_tasks_per_dag"] == "16"  # set under the new name: it wins
    assert "core.executor" not in options  # MWAA's own
    assert options["metrics.metrics_allow_list"] == "scheduler,executor"
    dropped = {o.key for o in plan.options.outcomes if o.outcome is Outcome.DROPPED}
    assert dropped == {"core.executor", "core.dag_concurrency"}
    assert plan.request["KmsKey"].endswith("key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert any(n.setting == "EndpointManagement" and n.level.value == "warning" for n in plan.notes)


def test_micro_environment_carries_its_sizes(facts: dict) -> None:
    plan = _plan("micro-211", facts)
    assert plan.request["EnvironmentClass"] == "mw1.micro"
    assert (plan.request["Schedulers"], plan.request["MaxWorkers"]) == (1, 1)
    assert "scheduler.catchup_by_default" in plan.request["AirflowConfigurationOptions"]
    assert not any("catchup_by_default" in d for d in plan.options.changed_defaults)
    assert any(n.setting == "AirflowVersion" and "in place" in n.message for n in plan.notes)


def test_every_version_mwaa_offers_is_a_release_airshift_knows() -> None:
    assert set(offer.MWAA_VERSIONS) <= set(known_releases())


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("3.4.0", "Amazon MWAA does not offer Airflow 3.4.0"),
        ("2.10.5", "Amazon MWAA does not offer Airflow 2.10.5"),
        ("2.10.3", "older than the source's 2.11.0"),
    ],
)
def test_versions_mwaa_does_not_offer_are_refused(version: str, reason: str, facts: dict) -> None:
    source = read_environment(str(DATA / "micro-211.json"))
    with pytest.raises(AirshiftError, match=reason):
        make_plan(source, PlanOptions(version, "sandbox3", check_role=False), facts=facts)


def test_settings_the_target_does_not_accept_refuse_the_plan_with_every_reason(facts: dict) -> None:
    data = environment("micro-211")
    data["AirflowConfigurationOptions"]["core.parallelism"] = "0"  # invalid on Airflow 3
    data["Schedulers"] = 2  # mw1.micro runs exactly one
    data["AirflowConfigurationOptions"]["Core.Bad-Key"] = "x"  # not an MWAA option name
    with pytest.raises(AirshiftError) as caught:
        make_plan(Environment(data), PlanOptions(TARGET, "sandbox3", check_role=False), facts=facts)
    message = caught.value.message
    assert "core.parallelism: [core] parallelism = 0 is invalid in Airflow 3.3.1" in message
    assert "Schedulers 2: mw1.micro accepts exactly 1" in message
    assert "Core.Bad-Key" in message


def test_a_plan_sharing_the_sources_files_is_refused(facts: dict) -> None:
    source = read_environment(str(DATA / "private-kms.json"))
    with pytest.raises(AirshiftError) as caught:
        make_plan(
            source, PlanOptions(TARGET, "payments_etl", prefix="", check_role=False), facts=facts
        )
    assert "the source's own name" in caught.value.message
    assert (
        "DagS3Path would be the source's own s3://payments-mwaa-eu/airflow/dags"
        in caught.value.message
    )
    other = make_plan(
        source,
        PlanOptions(TARGET, "payments-v3", bucket="payments-mwaa-v3", check_role=False),
        facts=facts,
    )
    assert other.request["SourceBucketArn"] == "arn:aws:s3:::payments-mwaa-v3"
    assert other.request["DagS3Path"] == "airflow/dags"  # another bucket: the same layout


def test_plan_from_a_live_environment_equals_plan_from_its_saved_output(mwaa, facts: dict) -> None:
    client, stub = mwaa
    data = environment("public-small")
    tags = data.pop("Tags")  # only ListTagsForResource has them
    stub.add_response("get_environment", {"Environment": data}, {"Name": "analytics-prod"})
    stub.add_response("list_tags_for_resource", {"Tags": tags}, {"ResourceArn": data["Arn"]})
    live = read_environment("mwaa://analytics-prod?region=us-east-1", client)
    options = PlanOptions(TARGET, "analytics-v3", check_role=False)
    saved = read_environment(str(DATA / "public-small.json"))
    assert (
        make_plan(live, options, facts=facts).request
        == make_plan(saved, options, facts=facts).request
    )


def _role(iam: Any, name: str, document: dict | None = None, attach: bool = False) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "airflow.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if document and attach:
        policy = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(document))
        iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
    elif document:
        iam.put_role_policy(RoleName=name, PolicyName="mwaa", PolicyDocument=json.dumps(document))
    return arn


def test_execution_role_check_reads_the_role_on_iam(aws, facts: dict) -> None:
    import boto3

    iam = boto3.client("iam")
    source = read_environment(str(DATA / "public-small.json"))
    old_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "airflow:PublishMetrics",
                "Resource": "arn:aws:airflow:us-east-1:123456789012:environment/analytics-prod",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                "Resource": ["arn:aws:s3:::analytics-airflow", "arn:aws:s3:::analytics-airflow/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["logs:*"],
                "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:airflow-analytics-prod-*",
            },
        ],
    }
    old_role = _role(iam, "mwaa-old", old_policy)
    secrets = SecretsManagerTarget.parse("aws-secretsmanager://")
    options = PlanOptions(
        TARGET,
        "analytics-v3",
        execution_role_arn=old_role,
        secrets_to=secrets,
        archive="s3://migration-bucket/airshift/archive-1",
    )
    plan = make_plan(source, options, facts=facts, iam=iam)
    assert plan.role_check is not None and plan.role_check.error is None
    missing = {(m.sid, m.resource) for m in plan.role_check.missing}
    assert (
        "WriteLogs",
        "arn:aws:logs:us-east-1:123456789012:log-group:airflow-analytics-v3-*",
    ) in missing
    assert (
        "PublishMetrics",
        "arn:aws:airflow:us-east-1:123456789012:environment/analytics-v3",
    ) in missing
    assert ("ReadAirshiftArchive", "arn:aws:s3:::migration-bucket/airshift/archive-1/*") in missing
    assert (
        "ReadAirflowSecrets",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow/connections/*",
    ) in missing
    assert not any(sid == "ReadEnvironmentBucket" for sid, _ in missing)  # same bucket: granted
    assert any(n.setting == "ExecutionRoleArn" and n.level.value == "warning" for n in plan.notes)

    document = plan.policy_document()  # the printed policy is exactly what is missing
    for attach in (False, True):
        role = _role(iam, f"mwaa-new-{attach}", document, attach=attach)
        options = PlanOptions(
            TARGET,
            "analytics-v3",
            execution_role_arn=role,
            secrets_to=secrets,
            archive="s3://migration-bucket/airshift/archive-1",
        )
        assert make_plan(source, options, facts=facts, iam=iam).role_check.ok

    denied = {
        **document,
        "Statement": [
            *document["Statement"],
            {"Effect": "Deny", "Action": "logs:PutLogEvents", "Resource": "*"},
        ],
    }
    role = _role(iam, "mwaa-denied", denied)
    check = make_plan(
        source, PlanOptions(TARGET, "analytics-v3", execution_role_arn=role), facts=facts, iam=iam
    ).role_check
    assert [(m.sid, m.action) for m in check.missing] == [("WriteLogs", "logs:PutLogEvents")]

    unknown = make_plan(
        source,
        PlanOptions(
            TARGET, "analytics-v3", execution_role_arn="arn:aws:iam::123456789012:role/nope"
        ),
        facts=facts,
        iam=iam,
    )
    assert unknown.role_check.error and "NoSuchEntity" in unknown.role_check.error


def _plan_cli(*extra: str):
    source = str(DATA / "public-small.json")
    args = ["env", "plan", source, "--airflow-version", TARGET, "--name", "analytics-v3"]
    return runner.invoke(app, [*args, "--no-role-check", *extra])


def test_cli_writes_plan_and_policy_and_never_prints_option_values(
    tmp_path: Path, aws, facts: dict, monkeypatch
) -> None:
    monkeypatch.setattr("airshift.env.plan.target_facts", lambda version: facts)
    out, policy_out = tmp_path / "plan.tf", tmp_path / "policy.json"
    result = _plan_cli("--format", "terraform", "--out", str(out), "--policy-out", str(policy_out))
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert "hunter2" not in result.output and "dropped" in result.output
    assert "aws_mwaa_environment" in out.read_text()
    assert json.loads(policy_out.read_text())["Statement"]
    result = _plan_cli("--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "smtp.smtp_password" not in report["request"]["AirflowConfigurationOptions"]
    assert "hunter2" not in result.output


def test_cli_refusal_exits_2_with_the_reason(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "airshift",
            "env",
            "plan",
            str(DATA / "micro-211.json"),
            "--airflow-version",
            "3.4.0",
            "--name",
            "sandbox3",
            "--out",
            str(tmp_path / "p.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "does not offer Airflow 3.4.0" in proc.stderr
    assert not (tmp_path / "p.json").exists()


def test_plan_from_mwaa_url_through_the_cli(mwaa, facts: dict, monkeypatch, tmp_path: Path) -> None:
    _, stub = mwaa
    stub_get(stub, environment("private-kms"))
    monkeypatch.setattr("airshift.env.plan.target_facts", lambda version: facts)
    out = tmp_path / "plan.json"
    result = runner.invoke(
        app,
        [
            "env",
            "plan",
            "mwaa://payments_etl?region=eu-west-1",
            "--airflow-version",
            TARGET,
            "--name",
            "payments-v3",
            "--out",
            str(out),
            "--no-role-check",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["Name"] == "payments-v3"
