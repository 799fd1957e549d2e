"""mwaa:// environments: the MWAA control plane through botocore's Stubber on the real
``mwaa`` service model (moto has no MWAA), the login exchange through a stand-in for MWAA's
login endpoint in front of a real Airflow 3.3.2 API server with the agent."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from airshift import cli
from airshift.agent.client import AgentClient
from airshift.agent.login import mwaa_environment
from airshift.errors import AirshiftError
from tests.agent.mwaa_front import mwaa_front

ARN = "arn:aws:airflow:us-east-1:123456789012:environment/old-env"


def _mwaa() -> tuple[object, Stubber]:
    client = boto3.client(
        "mwaa", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    return client, Stubber(client)


def _environment(version: str, host: str, status: str = "AVAILABLE") -> dict:
    return {
        "Environment": {
            "Name": "old-env",
            "Arn": ARN,
            "AirflowVersion": version,
            "Status": status,
            "WebserverUrl": host,
            "WebserverAccessMode": "PUBLIC_ONLY",
        }
    }


def _login(token: str, host: str) -> dict:
    return {
        "WebToken": token,
        "WebServerHostname": host,
        "IamIdentity": "arn:aws:sts::123456789012:assumed-role/migrator/me",
        "AirflowIdentity": "assumed-role/migrator",
    }


def test_control_plane_errors_are_one_clear_sentence():
    client, stub = _mwaa()
    stub.add_client_error(
        "get_environment", "ResourceNotFoundException", expected_params={"Name": "old-env"}
    )
    stub.add_response("get_environment", _environment("2.10.3", "h.example"), {"Name": "old-env"})
    stub.add_client_error(
        "create_web_login_token", "AccessDeniedException", expected_params={"Name": "old-env"}
    )
    stub.add_response(
        "get_environment", _environment("2.10.3", "h.example", "UPDATING"), {"Name": "old-env"}
    )
    with stub:
        with pytest.raises(AirshiftError, match="no MWAA environment named 'old-env'"):
            mwaa_environment("old-env", "us-east-1", client)
        with pytest.raises(AirshiftError, match="airflow:CreateWebLoginToken"):
            mwaa_environment("old-env", "us-east-1", client)
        with pytest.raises(AirshiftError, match="is UPDATING, not AVAILABLE"):
            mwaa_environment("old-env", "us-east-1", client)
    stub.assert_no_pending_responses()


def test_an_environment_too_old_for_the_agent_is_refused_before_any_login():
    """An MWAA release older than the oldest the agent runs in (2.7.2, docs/agent.md): the
    error says so and how to get past it, and no web login token is made (the Stubber refuses
    other calls)."""
    client, stub = _mwaa()
    stub.add_response("get_environment", _environment("2.6.3", "h.example"), {"Name": "old-env"})
    with stub, pytest.raises(AirshiftError) as err:
        mwaa_environment("old-env", "us-east-1", client)
    said = " ".join(str(err.value).split())
    assert "runs Airflow 2.6.3, which the airshift agent does not run in" in said
    assert "needs MWAA 2.7.2 or newer" in said
    assert "aws mwaa update-environment --name old-env --airflow-version 2.10.3" in said
    stub.assert_no_pending_responses()


def test_the_stubbed_model_refuses_what_mwaa_would():
    """The Stubber checks requests and answers against the real model, so these tests
    cannot drift from what MWAA accepts: a name MWAA cannot have, an answer it cannot give."""
    from botocore.exceptions import ParamValidationError

    client, stub = _mwaa()
    stub.add_response("get_environment", _environment("3.3.1", "h.example"))
    with stub, pytest.raises(ParamValidationError, match="Invalid length for parameter Name"):
        client.get_environment(Name="")
    bad = _environment("3.3.1", "h.example")
    bad["Environment"]["AirflowVersion"] = 3.3
    with pytest.raises(ParamValidationError, match="AirflowVersion"):
        stub.add_response("get_environment", bad)


@pytest.mark.slow
def test_mwaa_login_reaches_the_agent_of_airflow_3(environment, tmp_path, monkeypatch):
    env = environment("3.3.2")

    def jwt() -> str:
        req = urllib.request.Request(
            f"{env.url}/auth/token",
            data=json.dumps({"username": "admin", "password": env.users["admin"][1]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())["access_token"]

    with mwaa_front(env.url, 3, {"web-token-1", "web-token-2"}, jwt, tmp_path) as host:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "front.pem"))
        client, stub = _mwaa()
        stub.add_response("get_environment", _environment("3.3.2", host), {"Name": "old-env"})
        stub.add_response(
            "create_web_login_token", _login("web-token-1", host), {"Name": "old-env"}
        )
        with stub:
            reached = mwaa_environment("old-env", "us-east-1", client)
        info = AgentClient(reached).check()
        assert info["allowed"] and info["user"] == "admin" and reached.label == "mwaa://old-env"
        # The command itself, with the control plane stubbed the same way.
        stub.add_response("get_environment", _environment("3.3.2", host), {"Name": "old-env"})
        stub.add_response(
            "create_web_login_token", _login("web-token-2", host), {"Name": "old-env"}
        )
        monkeypatch.setattr(boto3, "client", lambda *a, **k: client)
        with stub:
            result = CliRunner().invoke(
                cli.app, ["agent", "check", "mwaa://old-env?region=us-east-1", "--json"]
            )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["environment"] == "mwaa://old-env"
        # A web token works once (MWAA's expire within a minute).
        stub.add_response("get_environment", _environment("3.3.2", host), {"Name": "old-env"})
        stub.add_response(
            "create_web_login_token", _login("web-token-1", host), {"Name": "old-env"}
        )
        with stub, pytest.raises(AirshiftError, match="answered 403"):
            mwaa_environment("old-env", "us-east-1", client)
