"""``airshift env create``: CreateEnvironment from a plan, waiting until AVAILABLE or CREATE_FAILED.

MWAA answers through botocore's Stubber (every request checked against the real model);
the bucket pre-flight runs against S3 on the moto server.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY
from typer.testing import CliRunner

from airshift.cli import app
from airshift.env.create import create_environment, read_plan, write_plan
from airshift.errors import AirshiftError
from tests.env.conftest import environment

runner = CliRunner()
ARN = "arn:aws:airflow:us-east-1:123456789012:environment/analytics-v3"


def _request(bucket: str) -> dict[str, Any]:
    return {
        "Name": "analytics-v3",
        "AirflowVersion": "3.3.1",
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/mwaa-analytics",
        "SourceBucketArn": f"arn:aws:s3:::{bucket}",
        "DagS3Path": "analytics-v3/dags",
        "RequirementsS3Path": "analytics-v3/requirements.txt",
        "NetworkConfiguration": {
            "SubnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
            "SecurityGroupIds": ["sg-0a1b2c3d4e5f60003"],
        },
        "EnvironmentClass": "mw1.small",
        "AirflowConfigurationOptions": {"core.max_active_tasks_per_dag": "32"},
    }


@pytest.fixture
def bucket(aws) -> str:
    """A versioned bucket holding the new environment's requirements.txt."""
    s3 = boto3.client("s3")
    name = f"mwaa-create-{uuid.uuid4().hex[:10]}"  # the moto server lives for the session
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(
        Bucket=name, Key="analytics-v3/requirements.txt", Body=b"apache-airflow-providers-amazon\n"
    )
    return name


def _status(status: str, error: dict | None = None) -> dict[str, Any]:
    data = environment("public-small") | {"Name": "analytics-v3", "Arn": ARN, "Status": status}
    data["AirflowVersion"] = "3.3.1"
    data["LastUpdate"] = {
        "Status": "FAILED" if error else "PENDING",
        **({"Error": error} if error else {}),
    }
    return {"Environment": data}


def test_create_and_wait_until_available(mwaa, bucket: str) -> None:
    client, stub = mwaa
    request = _request(bucket)
    stub.add_response("create_environment", {"Arn": ARN}, request)
    for status in ("CREATING", "CREATING", "AVAILABLE"):
        stub.add_response("get_environment", _status(status), {"Name": "analytics-v3"})
    seen, sleeps = [], []
    result = create_environment(
        request, wait=True, mwaa=client, poll_seconds=42, progress=seen.append, sleep=sleeps.append
    )
    assert (result.status, result.arn, result.failed) == ("AVAILABLE", ARN, False)
    assert [p.status for p in seen] == ["CREATING", "CREATING", "AVAILABLE"]
    assert sleeps == [42, 42]
    assert result.webserver_url and result.webserver_url.startswith("https://")


def test_create_failed_returns_the_services_reason_and_exit_1(
    mwaa, bucket: str, tmp_path: Path
) -> None:
    _, stub = mwaa
    request = _request(bucket)
    plan = tmp_path / "plan.json"
    write_plan(plan, request)
    stub.add_response("create_environment", {"Arn": ARN}, request)
    stub.add_response("get_environment", _status("CREATING"), {"Name": "analytics-v3"})
    error = {
        "ErrorCode": "INCORRECT_CONFIGURATION",
        "ErrorMessage": "Your requirements.txt failed to install.",
    }
    stub.add_response("get_environment", _status("CREATE_FAILED", error), {"Name": "analytics-v3"})
    result = runner.invoke(app, ["env", "create", str(plan), "--wait", "--poll-seconds", "0"])
    assert result.exit_code == 1, result.output
    assert "CREATE_FAILED" in result.output
    assert "INCORRECT_CONFIGURATION Your requirements.txt failed to install." in " ".join(
        result.output.split()
    )


def test_create_without_wait_returns_at_once(mwaa, bucket: str, tmp_path: Path) -> None:
    _, stub = mwaa
    plan = tmp_path / "plan.json"
    write_plan(plan, _request(bucket))
    stub.add_response("create_environment", {"Arn": ARN}, {k: ANY for k in _request(bucket)})
    result = runner.invoke(app, ["env", "create", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "CREATING"


def test_preflight_refuses_before_calling_mwaa(mwaa, bucket: str) -> None:
    client, _ = mwaa  # no response is stubbed: a CreateEnvironment call would fail the test
    request = _request(bucket) | {"PluginsS3Path": "analytics-v3/plugins.zip"}
    with pytest.raises(AirshiftError, match=r"plugins\.zip is not there .* env resources"):
        create_environment(request, mwaa=client)
    request = _request(bucket) | {"RequirementsS3ObjectVersion": "no-such-version"}
    with pytest.raises(AirshiftError, match="version no-such-version of"):
        create_environment(request, mwaa=client)
    boto3.client("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    with pytest.raises(AirshiftError, match="versioning off"):
        create_environment(_request(bucket), mwaa=client)


def test_a_plan_the_model_rejects_is_not_sent(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"Name": "x y", "DagS3Path": "dags"}))
    with pytest.raises(AirshiftError) as caught:
        read_plan(plan)
    assert "Missing required parameter" in caught.value.message
    assert "does not match" in caught.value.message  # the name's pattern, from the model
