"""What the modules that execute converted DAGs with ``dags test`` share: AWS clients of the
test process against the moto server, the environment that sends tasks there, and a
scratch PostgreSQL database the tasks reach through an Airflow connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from airshift import db
from tests.realairflow.build import PG_SERVER

AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )


def task_env(endpoint: str) -> dict[str, str]:
    """What a task needs to reach moto: credentials, region, endpoint (boto3 and the CLI)."""
    return {**AWS, "AWS_ENDPOINT_URL": endpoint}


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of our own (unique name), dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = db.create_database(PG_SERVER, name)
    try:
        yield url
    finally:
        db.drop_database(PG_SERVER, name)


def connection_uri(url: str) -> str:
    """The ``AIRFLOW_CONN_*`` value (postgres provider) for a scratch database."""
    return "postgres://postgres@127.0.0.1:5432/" + url.rsplit("/", 1)[1]
