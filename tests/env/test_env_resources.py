"""``airshift env resources``: an MWAA 2.10 environment's files upgraded for 3.3.1 and moved.

The source environment's bucket is on the moto server, with an older version of
requirements.txt named by the environment and a newer one it does not run; the target is
an MWAA environment answered by botocore's Stubber. The source bucket's object versions are
compared before and after: nothing may be written there.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY
from typer.testing import CliRunner

from airshift.cli import app
from airshift.code.check import CheckOptions
from airshift.env.create import preflight, read_plan
from airshift.env.plan import PlanOptions, make_plan
from airshift.env.resources import Action, move_resources
from airshift.env.source import Environment
from airshift.errors import AirshiftError
from tests.env.conftest import environment, stub_get

STATIC = CheckOptions(import_check=False, resolve=False)
runner = CliRunner()

LEGACY_DAG = """\
from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG("legacy", start_date=datetime(2024, 1, 1), schedule_interval="@daily") as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
"""
MODERN_DAG = """\
from airflow.sdk import dag, task


@dag(schedule=None)
def modern():
    @task
    def hello():
        return 1

    hello()


modern()
"""
PLUGIN = """\
from airflow.hooks.base_hook import BaseHook
from airflow.plugins_manager import AirflowPlugin


class MyHook(BaseHook):
    pass


class MyPlugin(AirflowPlugin):
    name = "my_plugin"
"""
REQUIREMENTS = (
    '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-2.10.3/constraints-3.11.txt"\n'
    "apache-airflow-providers-amazon\n"
)
STARTUP = b"#!/bin/sh\nexport ENVIRONMENT_STAGE=prod\n"


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def source(aws) -> dict[str, Any]:
    """The source environment's GetEnvironment data, its files in a versioned bucket on moto."""
    s3 = boto3.client("s3")
    bucket = f"analytics-{uuid.uuid4().hex[:10]}"  # the moto server lives for the session
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="dags/legacy.py", Body=LEGACY_DAG.encode())
    s3.put_object(Bucket=bucket, Key="dags/team/modern.py", Body=MODERN_DAG.encode())
    s3.put_object(Bucket=bucket, Key="dags/sql/report.sql", Body=b"select 1;\n")
    s3.put_object(Bucket=bucket, Key="dags/", Body=b"")  # a console-made folder marker
    versions = {
        "RequirementsS3ObjectVersion": s3.put_object(
            Bucket=bucket, Key="requirements.txt", Body=REQUIREMENTS.encode()
        )["VersionId"],
        "PluginsS3ObjectVersion": s3.put_object(
            Bucket=bucket, Key="plugins.zip", Body=_zip({"my_plugin.py": PLUGIN})
        )["VersionId"],
        "StartupScriptS3ObjectVersion": s3.put_object(
            Bucket=bucket, Key="startup.sh", Body=STARTUP
        )["VersionId"],
    }
    # A newer requirements.txt the environment does not run: the move must take the named one.
    s3.put_object(Bucket=bucket, Key="requirements.txt", Body=b"this-is-not-what-runs\n")
    return environment("public-small") | versions | {"SourceBucketArn": f"arn:aws:s3:::{bucket}"}


VERSIONED_SETTINGS = (
    "RequirementsS3Path",
    "RequirementsS3ObjectVersion",
    "PluginsS3Path",
    "PluginsS3ObjectVersion",
    "StartupScriptS3Path",
    "StartupScriptS3ObjectVersion",
)


def _target(source: dict[str, Any], **paths: str) -> dict[str, Any]:
    data = environment("public-small") | {
        "SourceBucketArn": source["SourceBucketArn"],
        "Name": "analytics-v3",
        "Arn": "arn:aws:airflow:us-east-1:123456789012:environment/analytics-v3",
        "AirflowVersion": "3.3.1",
        "DagS3Path": "analytics-v3/dags",
        "AirflowConfigurationOptions": {},
    }
    for key in VERSIONED_SETTINGS:
        data.pop(key, None)
    return data | paths


def _bucket(source: dict[str, Any]) -> str:
    return source["SourceBucketArn"].rsplit(":", 1)[-1]


def _source_versions(source: dict[str, Any]) -> list[tuple[str, str]]:
    listing = boto3.client("s3").list_object_versions(Bucket=_bucket(source))
    return sorted(
        (v["Key"], v["VersionId"])
        for v in listing.get("Versions", [])
        if not v["Key"].startswith("analytics-v3/")
    )


def _read(source: dict[str, Any], key: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=_bucket(source), Key=key)["Body"].read()


def test_dry_run_shows_the_upgrade_and_writes_nothing(mwaa, source: dict, tmp_path: Path) -> None:
    client, stub = mwaa
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps({"Environment": source}))
    stub_get(stub, _target(source))
    before = _source_versions(source)
    result = move_resources(str(saved), "mwaa://analytics-v3", False, STATIC, mwaa=client)
    actions = {f.key: f.action for f in result.files}
    assert actions == {
        "analytics-v3/dags/legacy.py": Action.NEW,
        "analytics-v3/dags/team/modern.py": Action.NEW,
        "analytics-v3/dags/sql/report.sql": Action.NEW,
        "analytics-v3/requirements.txt": Action.NEW,
        "analytics-v3/plugins.zip": Action.NEW,
        "analytics-v3/startup.sh": Action.NEW,
    }
    diffs = {c.display: c.diff() for c in result.upgrade.changes}
    assert (
        "+from airflow.providers.standard.operators.bash import BashOperator"
        in diffs["dags/legacy.py"]
    )
    assert "constraints-3.3.1" in diffs["requirements.airflow-3.3.1.txt"]
    assert "this-is-not-what-runs" not in "".join(diffs.values())  # the version the source runs
    assert any(c.display.startswith("plugins/") for c in result.upgrade.changes)  # plugins.zip too
    assert result.update == {
        "RequirementsS3Path": "analytics-v3/requirements.txt",
        "PluginsS3Path": "analytics-v3/plugins.zip",
        "StartupScriptS3Path": "analytics-v3/startup.sh",
    }
    assert not result.written
    assert _source_versions(source) == before
    assert "Contents" not in boto3.client("s3").list_objects_v2(
        Bucket=_bucket(source), Prefix="analytics-v3/"
    )


def test_write_uploads_sets_versions_and_a_second_run_changes_nothing(mwaa, source: dict) -> None:
    client, stub = mwaa
    stub_get(stub, _target(source))  # target first, then the source
    stub_get(stub, source)
    stub.add_response(
        "update_environment",
        {"Arn": "arn:aws:airflow:us-east-1:123456789012:environment/analytics-v3"},
        {
            "Name": "analytics-v3",
            "RequirementsS3Path": "analytics-v3/requirements.txt",
            "RequirementsS3ObjectVersion": ANY,
            "PluginsS3Path": "analytics-v3/plugins.zip",
            "PluginsS3ObjectVersion": ANY,
            "StartupScriptS3Path": "analytics-v3/startup.sh",
            "StartupScriptS3ObjectVersion": ANY,
        },
    )
    before = _source_versions(source)
    result = runner.invoke(
        app,
        [
            "env",
            "resources",
            "mwaa://analytics-prod",
            "mwaa://analytics-v3",
            "--write",
            "--no-import-check",
            "--no-resolve",
            "--json",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    assert report["written"]
    s3 = boto3.client("s3")
    update = report["update"]
    for setting in ("RequirementsS3", "PluginsS3", "StartupScriptS3"):
        head = s3.head_object(Bucket=_bucket(source), Key=update[f"{setting}Path"])
        assert head["VersionId"] == update[f"{setting}ObjectVersion"]
    assert b"constraints-3.3.1" in _read(source, "analytics-v3/requirements.txt")
    assert b"from airflow.providers.standard" in _read(source, "analytics-v3/dags/legacy.py")
    assert _read(source, "analytics-v3/dags/team/modern.py") == MODERN_DAG.encode()
    assert _read(source, "analytics-v3/startup.sh") == STARTUP
    with zipfile.ZipFile(io.BytesIO(_read(source, "analytics-v3/plugins.zip"))) as archive:
        plugin = archive.read("my_plugin.py").decode()
    assert "airflow.hooks.base_hook" not in plugin and "class MyPlugin" in plugin
    assert _source_versions(source) == before  # nothing was written to the source

    # The target now names those versions; a second run uploads nothing and does not update.
    s3.put_object(
        Bucket=_bucket(source), Key="analytics-v3/dags/only_in_target.py", Body=b"# mine\n"
    )
    stub_get(stub, _target(source, **{k: v for k, v in update.items()}))
    stub_get(stub, source)
    again = move_resources(
        "mwaa://analytics-prod", "mwaa://analytics-v3", True, STATIC, mwaa=client
    )
    assert {f.action for f in again.files if f.kind != "dag" or "only_in" not in f.key} == {
        Action.UNCHANGED
    }
    assert [f.key for f in again.files if f.action is Action.TARGET_ONLY] == [
        "analytics-v3/dags/only_in_target.py"
    ]
    assert again.update is None
    assert _read(source, "analytics-v3/dags/only_in_target.py") == b"# mine\n"  # left alone


def test_a_target_overlapping_the_source_is_refused(mwaa, source: dict, tmp_path: Path) -> None:
    client, stub = mwaa
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps({"Environment": source}))
    stub_get(stub, _target(source, DagS3Path="dags/v3", RequirementsS3Path="requirements.txt"))
    before = _source_versions(source)
    with pytest.raises(AirshiftError) as caught:
        move_resources(str(saved), "mwaa://analytics-v3", True, STATIC, mwaa=client)
    assert "writes nothing to the source" in caught.value.message
    assert "DAG folders" in caught.value.message and "RequirementsS3Path" in caught.value.message
    assert _source_versions(source) == before


def test_into_a_plan_before_create_then_the_preflight_passes(
    source: dict, facts: dict, tmp_path: Path
) -> None:
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps({"Environment": source}))
    plan = make_plan(
        Environment(source), PlanOptions("3.3.1", "analytics-v3", check_role=False), facts=facts
    )
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan.request))
    assert any("is not there" in problem for problem in preflight(plan.request))
    result = move_resources(str(saved), str(plan_file), True, STATIC)
    written = read_plan(plan_file)
    assert written["RequirementsS3ObjectVersion"] == result.update["RequirementsS3ObjectVersion"]
    assert written["PluginsS3ObjectVersion"] and written["StartupScriptS3ObjectVersion"]
    assert preflight(written) == []
    assert plan_file.stat().st_mode & 0o777 == 0o600


def test_a_local_project_moves_to_mwaa(aws, facts: dict, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    bucket = f"selfmanaged-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    project = tmp_path / "project"
    (project / "dags").mkdir(parents=True)
    (project / "dags" / "legacy.py").write_text(LEGACY_DAG)
    (project / "plugins").mkdir()
    (project / "plugins" / "my_plugin.py").write_text(PLUGIN)
    (project / "requirements.txt").write_text(REQUIREMENTS)
    plan_file = tmp_path / "plan.json"
    data = environment("micro-211") | {"SourceBucketArn": f"arn:aws:s3:::{bucket}"}
    request = make_plan(
        Environment(data), PlanOptions("3.3.1", "sandbox3", check_role=False), facts=facts
    ).request
    plan_file.write_text(json.dumps(request))
    result = move_resources(str(project), str(plan_file), True, STATIC)
    keys = {f.key: f.action for f in result.files}
    assert keys["sandbox3/dags/legacy.py"] is Action.NEW
    assert keys["sandbox3/plugins/plugins.zip"] is Action.NEW
    assert keys["sandbox3/requirements.txt"] is Action.NEW  # next to the DAG folder
    written = read_plan(plan_file)
    assert written["RequirementsS3Path"] == "sandbox3/requirements.txt"
    body = s3.get_object(Bucket=bucket, Key="sandbox3/plugins/plugins.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["my_plugin.py"]
    assert (project / "dags" / "legacy.py").read_text() == LEGACY_DAG  # the source is untouched


def test_the_readme_steps_plan_resources_create(
    mwaa, source: dict, facts: dict, tmp_path: Path, monkeypatch
) -> None:
    """README's Amazon MWAA section, command by command, on a saved source environment."""
    _, stub = mwaa
    monkeypatch.setattr("airshift.env.plan.target_facts", lambda version: facts)
    saved, plan = tmp_path / "old.json", tmp_path / "plan.json"
    saved.write_text(json.dumps({"Environment": source}))
    step = runner.invoke(
        app,
        [
            "env",
            "plan",
            str(saved),
            "--airflow-version",
            "3.3.1",
            "--name",
            "analytics-v3",
            "--out",
            str(plan),
            "--no-role-check",
        ],
    )
    assert step.exit_code == 0, step.output
    step = runner.invoke(
        app,
        ["env", "resources", str(saved), str(plan), "--write", "--no-import-check", "--no-resolve"],
    )
    assert step.exit_code in (0, 1), step.output
    request = read_plan(plan)
    assert request["PluginsS3ObjectVersion"] and request["StartupScriptS3ObjectVersion"]
    arn = "arn:aws:airflow:us-east-1:123456789012:environment/analytics-v3"
    stub.add_response("create_environment", {"Arn": arn}, request)
    stub.add_response(
        "get_environment",
        {"Environment": _target(source) | {"Status": "AVAILABLE"}},
        {"Name": "analytics-v3"},
    )
    step = runner.invoke(
        app, ["env", "create", str(plan), "--region", "us-east-1", "--wait", "--poll-seconds", "0"]
    )
    assert step.exit_code == 0, step.output
    assert "analytics-v3 AVAILABLE" in step.output


def _update_and_poll(stub, source: dict, *statuses: tuple[str, dict]) -> None:
    """GetEnvironment for the target and the source, UpdateEnvironment, then the polls."""
    target = _target(source)
    stub_get(stub, target)
    stub_get(stub, source)
    stub.add_response(
        "update_environment",
        {"Arn": target["Arn"]},
        {
            "Name": "analytics-v3",
            **dict.fromkeys(VERSIONED_SETTINGS, ANY),
        },
    )
    for status, last_update in statuses:
        data = target | {"Status": status, "LastUpdate": last_update}
        stub.add_response("get_environment", {"Environment": data}, {"Name": "analytics-v3"})


WRITE_AND_WAIT = [
    "env",
    "resources",
    "mwaa://analytics-prod",
    "mwaa://analytics-v3",
    "--write",
    "--wait",
    "--poll-seconds",
    "0",
    "--no-import-check",
    "--no-resolve",
]


def test_write_and_wait_until_the_environment_has_applied_the_files(mwaa, source: dict) -> None:
    _, stub = mwaa
    _update_and_poll(
        stub,
        source,
        ("UPDATING", {"Status": "PENDING"}),
        ("UPDATING", {"Status": "PENDING"}),
        ("AVAILABLE", {"Status": "SUCCESS"}),
    )
    result = runner.invoke(app, [*WRITE_AND_WAIT, "--json"])
    assert result.exit_code in (0, 1), result.output  # 1: the check's findings, not the wait
    settled = json.loads(result.stdout)["settled"]
    assert (settled["status"], settled["rolled_back"], settled["reason"]) == (
        "AVAILABLE",
        False,
        None,
    )
    assert "analytics-v3 UPDATING" in result.stderr and "analytics-v3 AVAILABLE" in result.stderr


def test_an_update_mwaa_rolls_back_says_why_and_exits_1(mwaa, source: dict) -> None:
    _, stub = mwaa
    error = {
        "ErrorCode": "INCORRECT_CONFIGURATION",
        "ErrorMessage": "Your plugins.zip could not be loaded.",
    }
    _update_and_poll(
        stub,
        source,
        ("UPDATING", {"Status": "PENDING"}),
        ("AVAILABLE", {"Status": "FAILED", "Error": error}),
    )
    result = runner.invoke(app, WRITE_AND_WAIT)
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert "AVAILABLE, the update rolled back" in said
    assert "INCORRECT_CONFIGURATION Your plugins.zip could not be loaded." in said


def test_wait_without_write_is_refused(mwaa) -> None:
    result = runner.invoke(
        app, ["env", "resources", "mwaa://analytics-prod", "mwaa://analytics-v3", "--wait"]
    )
    assert result.exit_code == 2 and "add --write" in result.output
