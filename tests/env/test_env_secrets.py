"""Connections and variables into Secrets Manager (moto), read back by Airflow's own backend.

The reader is the amazon provider's ``SecretsManagerBackend`` in a real Airflow 3.3.1 runtime
(the one ``env plan`` asks about configuration: Airflow plus the providers MWAA installs),
configured with exactly the ``secrets.*`` options ``env plan --secrets-to`` sets.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from airshift import airflow_env
from airshift.env import offer
from airshift.env.secretsmanager import (
    ConnectionValue,
    SecretsManagerTarget,
    Status,
    VariableValue,
    write_secrets,
)
from tests.conftest import Aws
from tests.env.conftest import TARGET

CONNECTIONS = [
    ConnectionValue(
        "warehouse",
        "postgres",
        "db.internal.example.com",
        "analytics",
        "etl",
        "p@ss:w/rd?#&=%20ü",
        5432,
        '{"sslmode": "require"}',
        "the warehouse",
    ),
    ConnectionValue(
        "aws_reporting",
        "aws",
        extra='{"region_name": "eu-west-1", "config_kwargs": {"retries": {"max_attempts": 5}}}',
    ),
    ConnectionValue(
        "team.partner_api",
        "http",
        "https://api.partner.example/v2",
        login="jürgen",
        password="s3cr3t",
    ),
    ConnectionValue("aws_default", "aws", extra='{"region_name": "us-east-1"}'),
]
VARIABLES = [
    VariableValue("environment", "production"),
    VariableValue("thresholds", '{"warn": 0.8, "fail": 0.95}'),
    VariableValue("sql/report_query", "select *\nfrom sales\nwhere day = '{{ ds }}'\n"),
    VariableValue("greeting", "grüße 🌍"),
]


def _read_back(aws: Aws, target: SecretsManagerTarget) -> dict[str, Any]:
    env = airflow_env.ensure(TARGET, extras=list(offer.MWAA_PROVIDERS[3]))
    options = target.backend_options()
    extra = aws.env | {
        "AIRFLOW__SECRETS__BACKEND": options["secrets.backend"],
        "AIRFLOW__SECRETS__BACKEND_KWARGS": options["secrets.backend_kwargs"],
    }
    wanted = {
        "connections": [c.conn_id for c in CONNECTIONS],
        "variables": [v.key for v in VARIABLES],
    }
    script = Path(__file__).with_name("read_secrets.py")
    with tempfile.TemporaryDirectory() as home:
        proc = env.run(
            ["python", str(script), json.dumps(wanted)], Path(home), extra_env=extra, check=False
        )
    assert "@@SECRETS@@" in proc.stdout, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("@@SECRETS@@", 1)[1])


def _expected(conn: ConnectionValue) -> dict[str, Any]:
    return {
        f: getattr(conn, f)
        for f in ("conn_type", "host", "schema", "login", "password", "port", "extra")
    }


@pytest.fixture
def target(aws: Aws) -> SecretsManagerTarget:
    run = uuid.uuid4().hex[:8]  # the moto server lives for the whole session
    return SecretsManagerTarget.parse(
        f"aws-secretsmanager://airflow-{run}/connections,airflow-{run}/variables"
    )


def test_airflows_own_backend_reads_every_secret_back_equal(
    aws: Aws, target: SecretsManagerTarget
) -> None:
    report = write_secrets(CONNECTIONS, VARIABLES, target)
    statuses = {(r.kind, r.key): r.status for r in report.results}
    assert statuses.pop(("connection", "aws_default")) is Status.SKIPPED  # MWAA's lookup pattern
    assert set(statuses.values()) == {Status.CREATED}
    assert report.notes == [
        "SecretsManagerBackend reads no connection description; not carried for: warehouse"
    ]
    text = repr(report)
    assert "p@ss" not in text and "s3cr3t" not in text and "production" not in text

    found = _read_back(aws, target)
    for conn in CONNECTIONS:
        expected = None if conn.conn_id == "aws_default" else _expected(conn)
        assert found["connections"][conn.conn_id] == expected, conn.conn_id
    assert found["variables"] == {v.key: v.value for v in VARIABLES}


def test_rewriting_is_idempotent_and_never_overwrites_unasked(
    aws: Aws, target: SecretsManagerTarget
) -> None:
    write_secrets(CONNECTIONS, VARIABLES, target)
    again = write_secrets(CONNECTIONS, VARIABLES, target)
    assert {r.status for r in again.results if r.key != "aws_default"} == {Status.UNCHANGED}

    changed_conns = [
        ConnectionValue(**{**vars(CONNECTIONS[0]), "password": "rotated"}),
        *CONNECTIONS[1:],
    ]
    changed_vars = [VariableValue("environment", "staging"), *VARIABLES[1:]]
    dry = write_secrets(changed_conns, changed_vars, target, overwrite=True, dry_run=True)
    assert {r.key for r in dry.results if r.status is Status.OVERWRITTEN} == {
        "warehouse",
        "environment",
    }
    conflict = write_secrets(changed_conns, changed_vars, target)
    assert [(r.key, r.status) for r in conflict.problems] == [
        ("warehouse", Status.CONFLICT),
        ("environment", Status.CONFLICT),
    ]
    found = _read_back(aws, target)
    assert found["connections"]["warehouse"]["password"] == CONNECTIONS[0].password  # untouched
    assert found["variables"]["environment"] == "production"

    overwritten = write_secrets(changed_conns, changed_vars, target, overwrite=True)
    assert overwritten.counts() == {"overwritten": 2, "unchanged": 5, "skipped": 1}
    found = _read_back(aws, target)
    assert found["connections"]["warehouse"]["password"] == "rotated"
    assert found["variables"]["environment"] == "staging"


def test_names_and_sizes_secrets_manager_refuses_fail_alone(
    aws: Aws, target: SecretsManagerTarget
) -> None:
    report = write_secrets(
        [ConnectionValue("has space", "http")],
        [VariableValue("big", "x" * 70_000), VariableValue("small", "ok")],
        target,
    )
    statuses = {r.key: r.status for r in report.results}
    assert statuses == {"has space": Status.FAILED, "big": Status.FAILED, "small": Status.CREATED}
    secretsmanager = boto3.client("secretsmanager")
    assert (
        secretsmanager.get_secret_value(SecretId=target.variable_name("small"))["SecretString"]
        == "ok"
    )


def test_the_url_names_prefixes_region_and_lookup() -> None:
    default = SecretsManagerTarget.parse("aws-secretsmanager://")
    assert (default.connections_prefix, default.variables_prefix) == (
        "airflow/connections",
        "airflow/variables",
    )
    custom = SecretsManagerTarget.parse(
        "aws-secretsmanager://team/conns/,team/vars?region=eu-west-1&connections_lookup_pattern="
    )
    assert (custom.connections_prefix, custom.variables_prefix, custom.region) == (
        "team/conns",
        "team/vars",
        "eu-west-1",
    )
    assert custom.looks_up("aws_default") and not default.looks_up("aws_default")
    kwargs = json.loads(custom.backend_options()["secrets.backend_kwargs"])
    assert kwargs == {
        "connections_prefix": "team/conns",
        "variables_prefix": "team/vars",
        "region_name": "eu-west-1",
    }


def test_values_come_from_the_importers_rows() -> None:
    row = {
        "id": 7,
        "conn_id": "warehouse",
        "conn_type": "postgres",
        "host": "db",
        "schema": "a",
        "login": "etl",
        "password": "pw",
        "port": 5432,
        "extra": "{}",
        "description": "d",
        "is_encrypted": False,
        "is_extra_encrypted": False,
        "team_name": None,
    }
    conn = ConnectionValue.from_row(row)
    # the connection's own fields: not the row's id, its conn_id (the secret's name) nor
    # the columns only the metadata database has
    not_in_secret = {
        "id",
        "conn_id",
        "description",
        "is_encrypted",
        "is_extra_encrypted",
        "team_name",
    }
    assert json.loads(conn.secret_string()) == {
        k: v for k, v in row.items() if k not in not_in_secret
    }
    assert VariableValue.from_row(
        {"id": 1, "key": "k", "val": "v", "description": None}
    ) == VariableValue("k", "v")
