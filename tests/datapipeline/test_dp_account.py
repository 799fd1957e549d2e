"""``convert datapipeline://``: pipelines read from an account that moto serves.

The account is seeded through the real Data Pipeline API (``create_pipeline`` +
``put_pipeline_definition`` in the API form), then the command reads it back with
``list_pipelines``, ``describe_pipelines`` and ``get_pipeline_definition``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from dp_cases import api_objects

from airshift.datapipeline.loader import read_json

HERE = Path(__file__).parent
AIRSHIFT = str(Path(sys.executable).parent / "airshift")
REGION = "ap-southeast-2"  # this test's own region of the shared moto server
SEEDED = [
    ("samples/helloworld.json", "helloworld", {"team": "web"}),
    ("samples/ondemand.json", "on demand lambdas", {}),
    ("samples/billing-template.json", "billing", {"team": "finance"}),
    ("samples/S3TsvFilesToRedshiftTablesIfReady.json", "tsv to redshift", {}),
    ("samples/TeraSortHadoopBenchmark.json", "terasort", {}),
    ("samples/SparkPi-maximizeResource.json", "spark pi", {}),
    ("samples/SQLActivityWithTimeout.json", "sql timeout", {}),
    ("samples/3-Node-EFSBackupPipeline.json", "efs backup", {}),
    ("samples/RedshiftToRDS_withTableCreate.json", "redshift to rds", {}),
    ("samples/pig_activity_sample.json", "pig", {}),
    ("samples/hadoop-activity-world-count-fair.json", "wordcount", {}),
    ("samples/dynamodb-to-dynamodb.json", "ddb copy", {}),
    ("definitions/everything.json", "everything", {"owner": "data-platform"}),
    ("definitions/mixed_schedules.json", "mixed", {}),
    ("samples/kinesis-to-s3.json", "kinesis", {}),  # invalid period: not converted
    ("samples/helloworld.json", "helloworld", {}),  # a second pipeline with the same name
]


def api_form(path: Path) -> list[dict]:
    """A file-form definition's objects as ``put_pipeline_definition`` takes them."""
    raw, _ = read_json(path)
    return api_objects(raw["objects"])


@pytest.fixture(scope="module")
def account(moto_server: str) -> dict[str, str]:
    """Seed the account once: pipeline id -> its name."""
    dp = boto3.client(
        "datapipeline",
        region_name=REGION,
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    seeded = {}
    for index, (relative, name, tags) in enumerate(SEEDED):
        created = dp.create_pipeline(
            name=name,
            uniqueId=f"seed-{index}",
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )
        pid = created["pipelineId"]
        dp.put_pipeline_definition(pipelineId=pid, pipelineObjects=api_form(HERE / relative))
        if name == "billing":
            dp.activate_pipeline(pipelineId=pid)
        seeded[pid] = name
    return seeded


def run(moto_server: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "240",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
    }
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [AIRSHIFT, "datapipeline", "convert", *args], capture_output=True, text=True, env=env
    )


def test_whole_account_one_dag_per_pipeline_and_one_summary(moto_server, account, tmp_path):
    proc = run(
        moto_server,
        "datapipeline://",
        "--region",
        REGION,
        "--out",
        str(tmp_path),
        "--activation-date",
        "2025-01-01",
        "--json",
    )
    assert proc.returncode == 1, proc.stderr  # kinesis did not convert
    payload = json.loads(proc.stdout)
    summary = payload["summary"]
    assert len(summary["pipelines"]) == len(SEEDED) >= 10
    by_name: dict[str, list[dict]] = {}
    for entry in summary["pipelines"]:
        by_name.setdefault(entry["pipeline name"], []).append(entry)
        assert entry["source"] == "datapipeline://" + entry["pipeline id"]
        assert entry["region"] == REGION
    [kinesis] = by_name["kinesis"]
    assert kinesis["status"] == "failed" and "invalid period '15 Period'" in kinesis["why"]
    assert kinesis["dags"] == []
    # every other pipeline became DAG files; names became DAG ids, made unique
    converted = [e for e in summary["pipelines"] if e["status"] != "failed"]
    dag_ids = [d["dag_id"] for e in converted for d in e["dags"]]
    assert len(dag_ids) == len(set(dag_ids))
    assert {p.stem for p in tmp_path.glob("*.py")} == set(dag_ids)
    first, second = by_name["helloworld"]
    assert first["dags"][0]["dag_id"] == "helloworld"
    assert second["dags"][0]["dag_id"] == "helloworld_" + second["pipeline id"].replace("-", "_")
    assert len(by_name["mixed"][0]["dags"]) == 2  # one DAG per schedule
    # clean vs TODOs, with the reason; state and tags from describe_pipelines
    # clean vs TODOs, with the reason; state and tags from describe_pipelines
    [lambdas] = by_name["on demand lambdas"]
    assert lambdas["status"] == "clean" and lambdas["why"] == "converted cleanly"
    # moto keeps no parameter objects: #{myX} of the samples become TODO params
    assert first["status"] == "todos" and first["why"] == "2 TODO(s) on OutputData, OutputData2"
    assert first["tags"] == "team=web"
    [everything] = by_name["everything"]
    assert everything["status"] == "todos" and "TODO(s) on" in everything["why"]
    assert by_name["billing"][0]["state"] == "SCHEDULED"
    assert summary["counts"] == {
        "clean": sum(e["status"] == "clean" for e in summary["pipelines"]),
        "todos": sum(e["status"] == "todos" for e in summary["pipelines"]),
        "failed": 1,
        "skipped": 0,
    }
    for entry in converted:
        assert all(d["checked"] == "not checked by Airflow" for d in entry["dags"])
    # the summary is written beside the DAGs, in Markdown and JSON
    markdown = (tmp_path / "datapipeline-summary.md").read_text()
    assert f"{len(SEEDED)} pipeline(s)" in markdown and "| failed |" in markdown
    on_disk = json.loads((tmp_path / "datapipeline-summary.json").read_text())
    assert on_disk == summary
    report = (tmp_path / "everything.report.md").read_text()
    assert "- pipeline name: everything" in report and "owner=data-platform" in report


def test_one_pipeline_by_id(moto_server, account, tmp_path):
    pid = next(p for p, name in account.items() if name == "terasort")
    proc = run(moto_server, f"datapipeline://{pid}", "--region", REGION, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.glob("*.py")] == ["terasort.py"]
    assert "terasort.py" in proc.stdout and "0 clean, 1 with TODOs, 0 not converted" in proc.stdout


def test_unknown_pipeline_is_a_clear_error(moto_server, account, tmp_path):
    proc = run(
        moto_server, "datapipeline://df-00000000NOPE", "--region", REGION, "--out", str(tmp_path)
    )
    assert proc.returncode == 2
    assert "df-00000000NOPE" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.py"))
