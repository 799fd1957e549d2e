"""Fixtures for ``airshift env``: saved MWAA environments, a stubbed MWAA API, the real target facts.

MWAA has no offline stand-in (moto does not implement it), so its API is botocore's
``Stubber`` on the real ``mwaa`` service model: every request and response is validated
against the model. S3, IAM and Secrets Manager are the moto server of tests/conftest.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airshift.env import aws as env_aws

DATA = Path(__file__).parent / "data"
# Differently configured sources: public/service endpoints, private/customer endpoints with a
# customer KMS key, and an mw1.micro on 2.11 with options Airflow 3 renamed or removed.
SOURCES = ["public-small", "private-kms", "micro-211"]
TARGET = "3.3.1"  # the newest Airflow MWAA offers


def environment(name: str) -> dict[str, Any]:
    """GetEnvironment's ``Environment`` of a saved source."""
    return copy.deepcopy(json.loads((DATA / f"{name}.json").read_text())["Environment"])


@pytest.fixture(scope="session")
def facts() -> dict:
    """What the real Airflow 3.3.1 (with the providers MWAA installs) says about its config."""
    from airshift.env.plan import target_facts

    return target_facts(TARGET)


@pytest.fixture
def mwaa(aws) -> Iterator[tuple[Any, Stubber]]:
    """A real botocore MWAA client whose calls are answered by a Stubber; ``airshift.env``
    gets it whenever it asks for an MWAA client (S3, IAM, Secrets Manager stay on moto)."""
    client = boto3.client("mwaa", region_name="us-east-1")
    real = env_aws.client
    with Stubber(client) as stub, pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            env_aws,
            "client",
            lambda service, region=None: client if service == "mwaa" else real(service, region),
        )
        yield client, stub
        stub.assert_no_pending_responses()


def stub_get(stub: Stubber, data: dict[str, Any], tags: bool = True) -> None:
    """GetEnvironment (and ListTagsForResource) answering with ``data``."""
    stub.add_response("get_environment", {"Environment": data}, {"Name": data["Name"]})
    if tags:
        stub.add_response(
            "list_tags_for_resource", {"Tags": data.get("Tags", {})}, {"ResourceArn": data["Arn"]}
        )
