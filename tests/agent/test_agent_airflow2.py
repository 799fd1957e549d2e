"""The agent in a real Airflow 2.10.5 web server (FAB, gunicorn) on PostgreSQL.

The plugin loads, authentication (basic auth, and MWAA's session cookie), admins only,
and airshift's library in the web server's own environment (SQLAlchemy 1.4, psycopg2:
``backends.Psycopg2``): the export equals the direct export, and the 2.10.5 -> 3.3.2
migration through two agents equals the direct migration.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

import pytest

from airshift.agent.client import AgentClient
from airshift.agent.login import connect, mwaa_environment
from airshift.agent.protocol import JOBS_PATH, JobRequest
from airshift.agent.remote import new_job_id
from airshift.archive import ArchiveReader, sealed
from tests.agent.conftest import (
    airshift,
    assert_same_history,
    job_rows,
    migrate_directly,
    opened_archive,
)
from tests.agent.mwaa_front import mwaa_front
from tests.agent.test_mwaa import _environment, _login, _mwaa

pytestmark = pytest.mark.slow
V2 = "2.10.5"

# FAB records each authenticated request in the user's row: the CLI's own requests to the
# agent change these between the two exports.
FAB_LOGINS = {"ab_user": {"last_login", "login_count", "fail_login_count", "changed_on"}}


@pytest.fixture
def webserver(environment):
    return environment(V2)


def test_admins_only_on_airflow_2(webserver, s3):
    check = airshift("agent", "check", webserver.url, *webserver.login("admin"), "--json")
    assert check.returncode == 0, check.stderr
    info = json.loads(check.stdout)
    assert info["allowed"] and info["airflow_version"] == V2
    assert info["database"]["alembic_revision"] == "5f2621c13b39"
    for user in ("op", "viewer"):
        proc = airshift(
            "agent",
            "export",
            webserver.url,
            "--to",
            "s3://archives/x",
            *webserver.login(user),
            env=s3,
        )
        assert proc.returncode == 2 and "'Admin' role" in proc.stderr, proc.stderr
        client = AgentClient(connect(webserver.url, user=user, password=webserver.users[user][1]))
        code, _ = client.request(
            "POST", JOBS_PATH, JobRequest(new_job_id(), "export", "s3://archives/x").body()
        )
        assert code == 403
    wrong = airshift(
        "agent", "check", webserver.url, "--airflow-user", "admin", "--airflow-password", "nope"
    )
    assert wrong.returncode == 2 and "refused the credentials (401" in wrong.stderr
    assert job_rows(webserver.db_url) == []


def _fab_session(url: str, user: str, password: str) -> str:
    """A real FAB login (the form, with its CSRF token): the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login/").read().decode()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": user, "password": password, "csrf_token": csrf}
    ).encode()
    opener.open(f"{url}/login/", data=form).close()
    return next(c.value for c in jar if c.name == "session")


def test_mwaa_session_cookie_reaches_the_agent_of_airflow_2(webserver, tmp_path, monkeypatch):
    def session() -> str:
        return _fab_session(webserver.url, "admin", webserver.users["admin"][1])

    with mwaa_front(webserver.url, 2, {"web-token"}, session, tmp_path) as host:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "front.pem"))
        client, stub = _mwaa()
        stub.add_response("get_environment", _environment(V2, host), {"Name": "old-env"})
        stub.add_response("create_web_login_token", _login("web-token", host), {"Name": "old-env"})
        with stub:
            reached = mwaa_environment("old-env", "us-east-1", client)
        assert "Cookie" in reached.headers
        info = AgentClient(reached).check()
        assert info["allowed"] and info["user"] == "admin"


def test_export_from_airflow_2(webserver, s3, tmp_path, monkeypatch):
    """The 2.x agent's export (SQLAlchemy 1.4, psycopg2, in the web server's environment)
    holds what the direct export (a database URL, here) of the same database holds: every
    table, every row, every opened secret."""
    private, public = sealed.new_key_pair()
    direct = airshift(
        "export", webserver.db_url, "--to", str(tmp_path / "direct"), "--fernet-key",
        webserver.fernet_key, "--archive-key", public,
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr[-2000:]
    proc = airshift(
        "agent", "export", webserver.url, "--to", "s3://archives/af2", "--public-key", public,
        *webserver.login("admin"), "--json", env=s3,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name, value in s3.items():
        monkeypatch.setenv(name, value)
    ours = opened_archive(ArchiveReader("s3://archives/af2"), private, FAB_LOGINS)
    theirs = opened_archive(ArchiveReader(str(tmp_path / "direct")), private, FAB_LOGINS)
    assert ours == theirs
    assert sum(map(len, ours.values())) > 0 and ours["connection"] and ours["variable"]
    assert json.loads(proc.stdout)["rows"] == sum(map(len, ours.values()))


@pytest.mark.parametrize("upgrade_in", ["target", "here"])
def test_goal_migrate_2_to_3_through_agents(environment, clone_db, s3, upgrade_in):
    """Issue 13's goal: 2.10.5 web server -> 3.3.2 API server, no database URL given, the
    target equal to the direct migration (compared as in test_agent_airflow3). The upgrade
    runs in the target (its own Airflow, a scratch schema of its database: the default,
    no Airflow installed on this machine for it) or on this machine."""
    source, target = environment(V2), environment("3.3.2", "target")
    # the issue's own command, `airshift migrate ENV ENV` (routed to `agent migrate`)
    command = (
        ["migrate"] if upgrade_in == "target" else ["agent", "migrate", "--upgrade-in", "here"]
    )
    proc = airshift(
        *command, source.url, target.url, "--archive", f"s3://archives/goal2{upgrade_in}",
        *source.login("admin", "source"), *target.login("admin", "target"), "--no-pause", "--json",
        env=s3,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert (out["upgrade"] is None) == (upgrade_in == "target")
    assert len(out["archives"]) == (1 if upgrade_in == "target" else 2)
    logs = " ".join(r["status"] for r in job_rows(target.db_url))
    assert ("in a scratch schema" in logs) == (upgrade_in == "target")
    assert scratch_schemas(target.db_url) == []
    direct_src, direct_tgt = clone_db(V2, "postgresql"), clone_db("3.3.2", "postgresql", "target")
    migrate_directly(direct_src, direct_tgt)
    assert_same_history(target, direct_tgt)


def scratch_schemas(db_url: str) -> list[str]:
    """Schemas a scratch left in the target database (airshift's prefix)."""
    from airshift import db

    engine = db.engine_for(db_url)
    try:
        with engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars()
            return [n for n in names if n.startswith("airshift_scratch_")]
    finally:
        engine.dispose()
