"""The agent in real Airflow 3.3.2 API servers on PostgreSQL, driven by the real CLI.

The goal (issue 13): ``airshift agent migrate http://SOURCE http://TARGET --archive s3://...``
with no database URL ends with a target equal, field by field, to the direct
(database-URL) migration of the same source.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request

import boto3
import pyarrow.parquet as pq
import pytest

from airshift.agent.client import AgentClient
from airshift.agent.library import differing as library_differing
from airshift.agent.login import connect
from airshift.agent.protocol import JOBS_PATH, JobRequest
from airshift.agent.remote import new_job_id
from airshift.archive import sealed
from airshift.env.secretsmanager import SecretsManagerTarget
from tests import rows
from tests.agent.conftest import (
    airshift,
    assert_same_history,
    job_rows,
    migrate_directly,
    running_cli,
)

pytestmark = pytest.mark.slow
V3 = "3.3.2"
SECRETS = [b"lab-pass-123", b"pw-two", b"xyz-extra-secret", b"s3cr3t-value"]


def _s3_blobs(s3: dict, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in the archive bucket; Parquet files as their values."""
    client = boto3.client(
        "s3",
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="archives", Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket="archives", Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".parquet"):
                body += str(pq.read_table(io.BytesIO(body)).to_pylist()).encode()
            out[obj["Key"]] = body
    assert out, f"nothing under s3://archives/{prefix}"
    return out


def _leaks(blobs: dict[str, bytes], private_key: str) -> list[tuple[str, bytes]]:
    needles = [*SECRETS, private_key.split(":", 1)[1].encode()]
    return [(name, n) for name, blob in blobs.items() for n in needles if n in blob]


def test_migrate_through_agents_equals_the_direct_migration(environment, clone_db, s3, tmp_path):
    source, target = environment(V3), environment(V3, "target")
    direct_src, direct_tgt = clone_db(V3, "postgresql"), clone_db(V3, "postgresql", "target")
    report = tmp_path / "report.json"
    proc = airshift(
        "agent", "migrate", source.url, target.url, "--archive", "s3://archives/goal",
        *source.login("admin", "source"), *target.login("admin", "target"),
        "--no-pause", "--report", str(report), "--json",
        env=s3,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads(proc.stdout)
    private_key = proc.stderr.split("x25519-private:", 1)[1].split()[0]
    theirs = migrate_directly(direct_src, direct_tgt)
    assert_same_history(target, direct_tgt)
    inserted = {n: t["inserted"] for n, t in ours["merge"]["tables"].items()}
    expected = {n: t["inserted"] for n, t in theirs["merge"]["tables"].items()}
    assert inserted == expected | {"log": expected["log"] + 1}  # + the source server's start
    assert sum(inserted.values()) > 0 and not any(
        t["differing"] for t in ours["merge"]["tables"].values()
    )
    # Nothing is leaked: not in S3, not in the servers' logs, not in the job records or report.
    assert _leaks(_s3_blobs(s3, "goal/"), "x25519-private:" + private_key) == []
    records = json.dumps(job_rows(source.db_url) + job_rows(target.db_url), default=str).encode()
    logs = {"source log": source.agent_log().encode(), "target log": target.agent_log().encode()}
    assert (
        _leaks(
            {"jobs": records, "report": report.read_bytes(), **logs},
            "x25519-private:" + private_key,
        )
        == []
    )
    manifest = json.loads(_s3_blobs(s3, "goal/export/manifest.json")["goal/export/manifest.json"])
    assert manifest["secrets"]["key_fingerprint"] == sealed.fingerprint(
        "x25519-private:" + private_key
    )


def test_only_admins_run_jobs(environment, s3):
    env = environment(V3)
    for user in ("op", "viewer"):
        proc = airshift(
            "agent",
            "export",
            env.url,
            "--to",
            f"s3://archives/refused-{user}",
            *env.login(user),
            env=s3,
        )
        assert proc.returncode == 2, proc.stderr
        assert "Only administrators" in proc.stderr and "Nothing was run" in proc.stderr
        client = AgentClient(connect(env.url, user=user, password=env.users[user][1]))
        job = JobRequest(new_job_id(), "export", f"s3://archives/refused-{user}", {}, key=None)
        code, body = client.request("POST", JOBS_PATH, job.body())
        assert code == 403 and "administrators" in body["error"]
    check = airshift("agent", "check", env.url, *env.login("viewer"), "--json")
    assert check.returncode == 1 and json.loads(check.stdout)["allowed"] is False
    assert job_rows(env.db_url) == []  # nothing was recorded, nothing ran
    anonymous = airshift("agent", "check", env.url)
    assert anonymous.returncode == 2 and "refused the credentials (401" in anonymous.stderr


def test_a_missing_agent_says_how_to_install_it(environment):
    plain = environment(V3, agent=False)
    proc = airshift("agent", "check", plain.url, *plain.login("admin"))
    assert proc.returncode == 2
    assert "No airshift agent answers" in proc.stderr and "airshift[agent]==" in proc.stderr


def test_a_dropped_connection_loses_nothing_and_the_cli_reattaches(environment, s3):
    source, target = environment(V3), environment(V3, "target")
    private, public = sealed.new_key_pair()
    exported = airshift(
        "agent",
        "export",
        source.url,
        "--to",
        "s3://archives/drop",
        "--public-key",
        public,
        *source.login("admin"),
        "--json",
        env=s3,
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    # The CLI dies (a dropped connection, a closed laptop) right after the import started.
    with running_cli(
        "agent",
        "import",
        "s3://archives/drop",
        target.url,
        "--archive-key",
        private,
        *target.login("admin"),
        env=s3,
    ) as cli:
        line = ""
        while "import job" not in line:
            line = cli.stderr.readline()
            assert line or cli.poll() is None, "the CLI ended before the job started"
        job_id = line.split("import job ", 1)[1].split()[0]
        cli.kill()
    client = AgentClient(connect(target.url, user="admin", password=target.users["admin"][1]))
    again = JobRequest(job_id, "import", "s3://archives/drop", {}, key=private)
    code, body = client.start(again)  # a retried start re-attaches to the same job
    assert code == 200 and body["job"]["id"] == job_id
    attached = airshift(
        "agent", "attach", target.url, job_id, *target.login("admin"), "--json", env=s3
    )
    assert attached.returncode == 0, attached.stderr[-2000:]
    report = json.loads(attached.stdout)
    assert report["merge"]["tables"]["dag_run"]["inserted"] > 0
    assert [r["state"] for r in job_rows(target.db_url)] == ["succeeded"]


def test_one_job_at_a_time_and_a_clear_error_for_a_wrong_key(environment, s3):
    source = environment(V3)
    client = AgentClient(connect(source.url, user="admin", password=source.users["admin"][1]))
    _, public = sealed.new_key_pair()
    first = JobRequest(new_job_id(), "export", "s3://archives/one", {"pause": False}, key=public)
    code, _ = client.start(first)
    assert code == 202
    second = JobRequest(new_job_id(), "export", "s3://archives/two", {}, key=public)
    code, body = client.start(second)
    assert code == 409 and body["job"]["id"] == first.id
    while not client.status(first.id)["final"]:
        time.sleep(0.5)
    # An export is never given a key that could open its secrets.
    code, body = client.request(
        "POST",
        JOBS_PATH,
        JobRequest(
            new_job_id(), "export", "s3://archives/x", {}, key=sealed.new_key_pair()[0]
        ).body(),
    )
    assert code == 400 and "only the public key" in body["error"]
    wrong = airshift(
        "agent",
        "import",
        "s3://archives/one",
        source.url,
        "--archive-key",
        sealed.new_key_pair()[0],
        *source.login("admin"),
        env=s3,
    )
    assert wrong.returncode == 2 and "archive key is wrong" in wrong.stderr


def test_the_agent_needs_the_auth_header_even_with_a_valid_session(environment):
    env = environment(V3)
    token = connect(env.url, user="admin", password=env.users["admin"][1]).headers["Authorization"]
    req = urllib.request.Request(
        env.url + JOBS_PATH,
        data=b"{}",
        method="POST",
        headers={"Authorization": token, "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("a POST without the agent header was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400


def _export_upgrade_agent_import(src, target, s3, prefix, private, public, *extra) -> dict:
    """A 2.x source exported with its database URL (sealed to ``public``), upgraded here
    with ``private``, imported by the 3.x agent (with ``extra`` options): the import report."""
    steps = [
        ("export", src.url, "--to", f"s3://archives/{prefix}/export",
         "--fernet-key", src.fixture.fernet_key, "--archive-key", public),
        ("upgrade", f"s3://archives/{prefix}/export", "--to", V3,
         "--out", f"s3://archives/{prefix}/upgraded", "--archive-key", private),
        ("agent", "import", f"s3://archives/{prefix}/upgraded", target.url,
         "--archive-key", private, *extra, *target.login("admin"), "--json"),
    ]  # fmt: skip
    for args in steps:
        proc = airshift(*args, env=s3)
        assert proc.returncode == 0, (args[0], proc.stderr[-3000:])
    return json.loads(proc.stdout)


def test_a_2x_archive_upgraded_here_imports_through_the_3x_agent(
    environment, clone_db, s3, tmp_path
):
    """The cross-version half that works today: a 2.10.5 archive sealed to a public key
    (exported with a database URL until the 2.x agent can export), upgraded on this
    machine with the private key, imported by the 3.3.2 agent: the target equals the
    direct migration of the same source."""
    private, public = sealed.new_key_pair()
    src, direct_src = clone_db("2.10.5", "postgresql"), clone_db("2.10.5", "postgresql")
    target, direct_tgt = environment(V3, "target"), clone_db(V3, "postgresql", "target")
    ours = _export_upgrade_agent_import(src, target, s3, "x2", private, public)
    migrate_directly(direct_src, direct_tgt)
    assert_same_history(target, direct_tgt)
    assert not library_differing(ours)
    assert _leaks(_s3_blobs(s3, "x2/"), private) == []


def test_agent_import_secrets_to_secrets_manager(environment, clone_db, s3, tmp_path):
    """README's MWAA step four: ``agent import --secrets-to`` opens the archive here and
    writes every connection and variable to Secrets Manager, where Airflow's own
    SecretsManagerBackend reads back what the 2.10.5 source's Airflow reads; the environment
    imports the rest, gets no key and no connection or variable rows."""
    from tests.conftest import Aws
    from tests.env.test_env_secrets import _read_back, _source_view

    private, public = sealed.new_key_pair()
    src, target = clone_db("2.10.5", "postgresql"), environment(V3, "target")
    wanted, expected = _source_view(src)
    tables = ("connection", "variable", "dag_run")
    before = {t: rows.count(target.db_url, t) for t in tables}
    url = "aws-secretsmanager://x3/connections,x3/variables?connections_lookup_pattern="
    ours = _export_upgrade_agent_import(src, target, s3, "x3", private, public, "--secrets-to", url)
    assert ours["secrets_to"]["counts"] == {
        "created": len(wanted["connections"]) + len(wanted["variables"])
    }
    assert "Secrets Manager" in ours["not_loaded"]["connection"]
    after = {t: rows.count(target.db_url, t) for t in tables}
    assert after["dag_run"] > before["dag_run"]
    assert (after["connection"], after["variable"]) == (before["connection"], before["variable"])
    found = _read_back(Aws(s3["AWS_ENDPOINT_URL"], s3), SecretsManagerTarget.parse(url), wanted)
    assert found == expected
    records = json.dumps(job_rows(target.db_url), default=str).encode()
    assert _leaks({"jobs": records, "log": target.agent_log().encode()}, private) == []
