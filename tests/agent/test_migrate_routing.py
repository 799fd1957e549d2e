"""`airshift migrate ENV ENV` with environments instead of database URLs runs `agent migrate`.

The full path (a 2.10.5 web server to a 3.3.2 API server) is
`test_agent_airflow2.py::test_goal_migrate_2_to_3_through_agents[target]`; this checks the
routing itself, quickly, through the real CLI process."""

from __future__ import annotations

import socket

from tests.agent.conftest import airshift


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_migrate_between_environments_goes_through_the_agents() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    proc = airshift("migrate", url, url, "--archive", "s3://bucket/x", "--source-token", "t")
    assert proc.returncode == 2, proc.stderr
    assert f"Cannot reach the Airflow environment {url}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_migrate_between_databases_stays_direct(tmp_path) -> None:
    missing = tmp_path / "nothing.db"
    proc = airshift("migrate", str(missing), str(tmp_path / "target.db"))
    assert proc.returncode == 2, proc.stderr
    assert "No SQLite database" in proc.stderr
