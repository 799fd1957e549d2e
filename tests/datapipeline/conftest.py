"""Session fixtures: convert every test input once, then load all DAGs in ONE DagBag.

Why one subprocess: importing Airflow and the amazon provider costs seconds; the machine is
shared, so all generated files go into one folder and one real DagBag reads them all.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from dp_cases import SCHEDULES, expressions_pipeline, staging_pipeline

from airshift import airflow_env
from airshift.datapipeline import ConversionResult, convert_file, write_result
from airshift.datapipeline.verify import PROVIDERS

HERE = Path(__file__).parent
SAMPLES = HERE / "samples"
DEFINITIONS = HERE / "definitions"
ACTIVATION = dt.datetime(2025, 1, 1)
AIRFLOW_VERSION = "3.3.2"
# one venv for importing and running: amazon + postgres providers, the AWS CLI for staging
AIRFLOW_EXTRAS = PROVIDERS

# dag_id -> the scheduled run (and param values) whose templates the probe renders
REQUESTS: dict[str, dict[str, Any]] = {
    "everything": {"logical_date": "2025-03-04T01:30:00+00:00"},
    "everything_ssm": {"logical_date": "2025-03-04T01:30:00+00:00"},
    "adversarial": {"logical_date": "2025-01-05T06:00:00+00:00"},
    "expressions": {"logical_date": "2025-03-04T06:30:00+00:00"},
    "staging": {"logical_date": "2025-03-04T00:00:00+00:00"},
    "billing_template": {
        "logical_date": "2025-03-04T00:00:00+00:00",
        "params": {
            "myS3BillingLogLoc": "s3://in/bill/",
            "myS3StagingLoc": "s3://stage/x/",
            "myRedshiftTableName": "bills",
        },
    },
    "S3TsvFilesToRedshiftTablesIfReady": {
        "logical_date": "2025-01-01T00:00:00+00:00",
        "params": {
            "myInputTsvFilesS3Loc_1": "s3://tsv/one.tsv",
            "myInputTsvFilesS3Loc_2": "s3://tsv/two.tsv",
            "myDestRedshiftTable_1": "t1",
            "myDestRedshiftTable_2": "t2",
        },
    },
    "RDStoRedshiftSqoop_setup": {"logical_date": "2025-01-01T00:00:00+00:00"},
    "oracle_backup": {
        "logical_date": "2025-03-04T00:00:00+00:00",
        "params": {"myBackupLocation": "s3://backups/ora"},
    },
    "TeraSortHadoopBenchmark": {"logical_date": "2025-01-02T00:00:00+00:00"},
    "RedshiftToRDS_withTableCreate": {
        "logical_date": "2025-01-01T00:00:00+00:00",
        "params": {"myOutputS3Path": "s3://tmp/out", "myRDSTableName": "songs"},
    },
    "hadoop_activity_world_count_fair": {
        "logical_date": "2025-01-01T00:00:00+00:00",
        "params": {"myOutputFolder": "s3://wc"},
    },
    "dynamodb_to_dynamodb": {
        "logical_date": "2025-01-01T00:00:00+00:00",
        "params": {"myTempS3Folder": "s3://tmp", "myDDBSourceTableName": "src"},
    },
    **{name: {"logical_date": case[1]} for name, case in SCHEDULES.items()},
}


def _sample_inputs(tmp: Path) -> list[tuple[Path, dict[str, Any]]]:
    inputs = [(p, {}) for p in sorted(SAMPLES.glob("*.json")) if p.name != "kinesis-to-s3.json"]
    inputs.append(
        (
            SAMPLES / "oracle-backup" / "definition.json",
            {
                "parameters": SAMPLES / "oracle-backup" / "parameters.json",
                "values": SAMPLES / "oracle-backup" / "values.json",
                "dag_id": "oracle_backup",
            },
        )
    )
    inputs += [(p, {}) for p in sorted(DEFINITIONS.glob("*.json"))]
    inputs.append(
        (DEFINITIONS / "everything.json", {"ec2_strategy": "ssm", "dag_id": "everything_ssm"})
    )
    generated = {name: case[0] for name, case in SCHEDULES.items()}
    generated["expressions"] = expressions_pipeline()
    generated["staging"] = staging_pipeline()
    for name, definition in generated.items():
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(definition))
        inputs.append((path, {}))
    return inputs


@pytest.fixture(scope="session")
def conversion(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, ConversionResult], Path]:
    """Convert every input once; DAG files and reports go to one folder."""
    tmp = tmp_path_factory.mktemp("dp_inputs")
    out = tmp_path_factory.mktemp("dp_dags")
    results: dict[str, ConversionResult] = {}
    for path, options in _sample_inputs(tmp):
        result = convert_file(path, activation=ACTIVATION, **options)
        write_result(result, out)
        for dag in result.dags:
            results[dag.dag_id] = result
    return results, out


@pytest.fixture(scope="session")
def converted(conversion: tuple[dict[str, ConversionResult], Path]) -> dict[str, ConversionResult]:
    """dag_id -> the conversion result that produced it."""
    return conversion[0]


@pytest.fixture(scope="session")
def dags_dir(conversion: tuple[dict[str, ConversionResult], Path]) -> Path:
    return conversion[1]


@pytest.fixture(scope="session")
def airflow() -> airflow_env.AirflowEnv:
    return airflow_env.ensure(AIRFLOW_VERSION, extras=AIRFLOW_EXTRAS)


@pytest.fixture(scope="session")
def dagbag(
    airflow: airflow_env.AirflowEnv, dags_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """What a real Airflow DagBag sees in the generated files (see dagbag_probe.py)."""
    tmp = tmp_path_factory.mktemp("dp_probe")
    request = tmp / "request.json"
    request.write_text(json.dumps(REQUESTS))
    output = tmp / "dagbag.json"
    airflow.run(
        ["python", str(HERE / "dagbag_probe.py"), str(dags_dir), str(request), str(output)],
        home=tmp / "home",
        timeout=600,
    )
    return json.loads(output.read_text())
